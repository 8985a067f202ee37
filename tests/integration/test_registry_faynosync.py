"""The registry in faynoSync's shapes (server/handler/… at 64e76c3): app flags, paginated
search, catalogues, app edit/delete, version edit, the default layout and whoami."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import product
from typing import Any

from tests.support import Api, ceremony

APP_KEYS = {
    "ID",
    "AppName",
    "Logo",
    "Private",
    "Tuf",
    "Reports",
    "CdnEdge",
    "Description",
    "Owner",
    "Updated_at",
}
VERSION_KEYS = {
    "ID",
    "AppName",
    "Version",
    "Channel",
    "Published",
    "Critical",
    "Intermediate",
    "Artifacts",
    "Changelog",
    "Updated_at",
}
ARTIFACT_KEYS = {
    "link",
    "platform",
    "arch",
    "package",
    "TufTaskID",
    "TufSigned",
    # tufsync's addition (docs/compatibility.md): the offline role still to sign it.
    "TufAwaitingSignatures",
    "Index",
    "Length",
    "Hashes",
    "TufPath",
}


def create_app(api: Api, **data: Any) -> str:
    response = api.post("/app/create", data={"data": json.dumps(data)})
    assert response.status_code == 200, response.text
    return str(response.json()["createAppResult.Created"])


def apps_by_name(api: Api) -> dict[str, dict[str, Any]]:
    response = api.get("/app/list")
    assert response.status_code == 200
    return {a["AppName"]: a for a in response.json()["apps"]}


def test_app_create_keeps_flags_and_list_has_faynosync_fields(api: Api) -> None:
    # The dashboard's create form sends flags as strings, and a logo file part.
    response = api.post(
        "/app/create",
        data={
            "data": json.dumps(
                {
                    "app": "flagged",
                    "description": "with flags",
                    "private": "true",
                    "tuf": "true",
                    "reports": "false",
                    "cdn": "true",
                }
            )
        },
        files=[("file", ("logo.png", b"\x89PNG"))],
    )
    assert response.status_code == 200, response.text
    app_id = response.json()["createAppResult.Created"]
    create_app(api, app="plain")
    assert api.post("/app/create", data={"data": json.dumps({"app": ""})}).status_code == 400
    apps = apps_by_name(api)
    flagged = apps["flagged"]
    assert set(flagged) == APP_KEYS
    assert flagged["ID"] == app_id
    assert (flagged["Private"], flagged["Tuf"], flagged["Reports"], flagged["CdnEdge"]) == (
        True,
        True,
        False,
        True,
    )
    assert flagged["Owner"] == api.username
    assert flagged["Logo"] == "" and flagged["Description"] == "with flags"
    assert "+00:00" in flagged["Updated_at"]
    plain = apps["plain"]
    assert not any(plain[k] for k in ("Private", "Tuf", "Reports", "CdnEdge"))


def test_app_update_and_delete(make_api: Callable[[], Api]) -> None:
    api, other = make_api(), make_api()
    app_id = create_app(api, app="edit", description="old", reports="true")
    body = {"id": app_id, "app": "edit", "description": "new", "tuf": "true"}
    response = api.post("/app/update", data={"data": json.dumps(body)})
    assert response.status_code == 200 and response.json() == {"updateAppResult.Updated": True}
    edited = apps_by_name(api)["edit"]
    assert edited["Description"] == "new" and edited["Tuf"] is True
    assert edited["Reports"] is True  # absent from the request: kept, as faynoSync does
    renamed = api.post("/app/update", data={"data": json.dumps({**body, "app": "other"})})
    assert renamed.status_code == 400 and "Renaming" in renamed.json()["error"]
    assert api.post("/app/update", data={"data": json.dumps({"app": "edit"})}).status_code == 400
    foreign = other.post("/app/update", data={"data": json.dumps(body)})
    assert foreign.status_code == 404
    assert other.http.delete("/app/delete", params={"id": app_id}).status_code == 404

    version_id = api.upload_ok("edit", "1.0", {"a.deb": b"a"})
    path = api.version("edit", version_id)["Artifacts"][0]["TufPath"]
    assert api.http.get(f"/public/{path}").status_code == 200
    gone = api.http.delete("/app/delete", params={"id": app_id})
    assert gone.status_code == 200 and gone.json() == {"deleteAppResult.DeletedCount": 1}
    assert "edit" not in apps_by_name(api)
    assert api.get("/search", params={"app_name": "edit"}).json()["items"] == []
    assert api.http.get(f"/public/{path}").status_code == 404
    assert api.http.delete("/app/delete", params={"id": app_id}).status_code == 404
    assert api.http.delete("/app/delete").status_code == 400


def test_app_delete_takes_signed_artifacts_out_of_tuf_first(api: Api) -> None:
    version_id = api.upload_ok("appdel", "1.0", {"a.deb": b"signed"})
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, "appdel").payload)
    api.publish_ok(version_id, "1.0")
    path = f"appdel-{api.username}/appdel-1.0.deb"
    app_id = apps_by_name(api)["appdel"]["ID"]
    response = api.http.delete("/app/delete", params={"id": app_id})
    assert response.status_code == 200
    assert response.json()["deleteAppResult.DeletedCount"] == 1
    assert api.wait_task(response.json()["task_id"])["state"] == "SUCCESS"
    assert api.http.get(f"/public/{path}").status_code == 404
    delegated = api.get(
        "/tuf/v1/metadata/delegated", params={"appName": "appdel", "roleName": "default"}
    ).json()["data"]["trusted_delegated"]
    assert delegated["signed"]["targets"] == {}


def test_search_shape_and_pagination(api: Api) -> None:
    for i in range(11):
        api.upload_ok("paged", f"1.{i}", {"a.deb": f"v{i}".encode()}, critical=i == 3)
    first = api.get("/search", params={"app_name": "paged"})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"items", "total", "page", "limit"}
    assert (body["total"], body["page"], body["limit"]) == (11, 1, 9)  # faynoSync's defaults
    assert len(body["items"]) == 9
    second = api.get("/search", params={"app_name": "paged", "page": "2"}).json()
    assert len(second["items"]) == 2 and second["page"] == 2
    seen = {v["Version"] for v in body["items"]} | {v["Version"] for v in second["items"]}
    assert len(seen) == 11
    small = api.get("/search", params={"app_name": "paged", "limit": "4", "page": "3"}).json()
    assert (len(small["items"]), small["limit"], small["total"]) == (3, 4, 11)
    critical = api.get("/search", params={"app_name": "paged", "critical": "true"}).json()
    assert [v["Version"] for v in critical["items"]] == ["1.3"]
    version = body["items"][0]
    assert set(version) == VERSION_KEYS
    assert version["Channel"] == "" and version["Intermediate"] is False
    artifact = version["Artifacts"][0]
    assert set(artifact) == ARTIFACT_KEYS
    assert artifact["TufTaskID"] is None and artifact["TufSigned"] is False
    assert artifact["TufAwaitingSignatures"] is None
    assert isinstance(artifact["Length"], int) and artifact["Index"] == "0"
    assert artifact["link"].endswith("/" + artifact["TufPath"])
    for params in ({"page": "0"}, {"page": "x"}, {"limit": "-1"}, {"critical": "maybe"}):
        assert api.get("/search", params=params).status_code == 400, params


def test_default_layout_leaves_out_empty_segments(api: Api) -> None:
    for n, (channel, platform, arch) in enumerate(
        product(("", "beta"), ("", "linux"), ("", "x64"))
    ):
        version = f"3.{n}"
        version_id = api.upload_ok(
            "layout",
            version,
            {"f.deb": version.encode()},
            channel=channel,
            platform=platform,
            arch=arch,
        )
        artifact = api.version("layout", version_id)["Artifacts"][0]
        folders = "".join(f"{s}/" for s in (channel, platform, arch) if s)
        expected = f"layout-{api.username}/{folders}layout-{version}.deb"
        assert artifact["TufPath"] == expected
        assert (artifact["platform"], artifact["arch"]) == (platform, arch)
        assert api.http.get(f"/public/{expected}").content == version.encode()


def test_updaters_with_their_own_layout_are_refused(api: Api) -> None:
    for updater in ("electron-builder", "squirrel_windows", "velopack", "sparkle"):
        response = api.upload("upd", "1.0", {"a.exe": b"x"}, updater=updater)
        assert response.status_code == 400
        assert "not offered" in response.json()["error"] and updater in response.json()["error"]
    assert api.upload("upd", "1.0", {"a.exe": b"x"}, updater="nonsense").status_code == 400
    assert api.upload("upd", "1.0", {"a.exe": b"x"}, updater="manual").status_code == 200


def test_catalogues(make_api: Callable[[], Api]) -> None:
    api, other = make_api(), make_api()
    fields = {"channel": "ChannelName", "platform": "PlatformName", "arch": "ArchID"}
    lists = {"channel": "channels", "platform": "platforms", "arch": "archs"}
    for kind, field in fields.items():
        title = kind.capitalize()
        created = api.post(f"/{kind}/create", json={kind: "first"})
        assert created.status_code == 200, created.text
        item_id = created.json()[f"create{title}Result.Created"]
        assert api.post(f"/{kind}/create", json={kind: "first"}).status_code == 409
        assert api.post(f"/{kind}/create", json={kind: "a/b"}).status_code == 400
        assert api.post(f"/{kind}/create", json={}).status_code == 400
        listed = api.get(f"/{kind}/list").json()[lists[kind]]
        assert [i[field] for i in listed] == ["first"]
        assert listed[0]["ID"] == item_id and listed[0]["Owner"] == api.username
        assert other.get(f"/{kind}/list").json()[lists[kind]] == []
        updated = api.post(f"/{kind}/update", json={"id": item_id, kind: "renamed"})
        assert updated.json() == {f"update{title}Result.Updated": True}
        assert other.post(f"/{kind}/update", json={"id": item_id, kind: "x"}).status_code == 404
        assert other.http.delete(f"/{kind}/delete", params={"id": item_id}).status_code == 404
        deleted = api.http.delete(f"/{kind}/delete", params={"id": item_id})
        assert deleted.json() == {f"delete{title}Result.DeletedCount": 1}
        assert api.get(f"/{kind}/list").json()[lists[kind]] == []
    platform = api.post(
        "/platform/create",
        json={"platform": "mac", "updaters": [{"type": "manual", "default": True}]},
    )
    assert platform.status_code == 200
    assert api.get("/platform/list").json()["platforms"][0]["Updaters"] == [
        {"type": "manual", "default": True}
    ]
    bad = api.post("/platform/create", json={"platform": "w", "updaters": [{"type": "nope"}]})
    assert bad.status_code == 400
    # An upload naming new values adds them; values in use cannot be deleted.
    api.upload_ok("cat", "1.0", {"a.deb": b"a"}, channel="stable", platform="linux", arch="arm64")
    assert [c["ChannelName"] for c in api.get("/channel/list").json()["channels"]] == ["stable"]
    assert {p["PlatformName"] for p in api.get("/platform/list").json()["platforms"]} == {
        "linux",
        "mac",
    }
    arch = api.get("/arch/list").json()["archs"][0]
    assert arch["ArchID"] == "arm64"
    in_use = api.http.delete("/arch/delete", params={"id": arch["ID"]})
    assert in_use.status_code == 400


def test_version_edit(api: Api) -> None:
    version_id = api.upload_ok("ver", "1.0", {"a.deb": b"a"}, channel="beta", changelog="first")
    body = {
        "id": version_id,
        "app_name": "ver",
        "version": "1.0",
        "channel": "beta",
        "publish": True,
        "critical": True,
        "intermediate": True,
        "changelog": "rewritten",
    }
    response = api.post("/apps/update", data={"data": json.dumps(body)})
    assert response.status_code == 200, response.text
    assert response.json() == {"updatedResult.Updated": True}
    version = api.version("ver", version_id)
    assert (version["Published"], version["Critical"], version["Intermediate"]) == (
        True,
        True,
        True,
    )
    assert [c["Changes"] for c in version["Changelog"]] == ["rewritten"]
    assert set(version["Changelog"][0]) == {"Version", "Changes", "Date"}
    # Another artifact through the edit form.
    more = {**body, "platform": "windows", "arch": "x64"}
    added = api.post(
        "/apps/update", data={"data": json.dumps(more)}, files=[("file", ("a.exe", b"exe"))]
    )
    assert added.status_code == 200, added.text
    paths = [a["TufPath"] for a in api.version("ver", version_id)["Artifacts"]]
    assert paths[1] == f"ver-{api.username}/beta/windows/x64/ver-1.0.exe"
    moved = api.post("/apps/update", data={"data": json.dumps({**body, "channel": "stable"})})
    assert moved.status_code == 400 and "channel" in moved.json()["error"]
    wrong = api.post("/apps/update", data={"data": json.dumps({**body, "version": "2.0"})})
    assert wrong.status_code == 400
    missing = api.post("/apps/update", data={"data": json.dumps({**body, "id": "nope"})})
    assert missing.status_code == 404


def test_whoami_has_id(api: Api) -> None:
    response = api.get("/whoami")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "username", "is_admin"}
    assert body["username"] == api.username and body["is_admin"] is True
    assert isinstance(body["id"], str) and body["id"]


def test_search_and_delete_refuse_non_ascii_digits(api: Api) -> None:
    for value in ("²", "\u0661", "9" * 40):
        assert api.get("/search", params={"limit": value}).status_code == 400, value
        assert api.get("/search", params={"page": value}).status_code == 400, value
    version_id = api.upload_ok("digits", "1.0", {"a.deb": b"a"})
    body = {"id": version_id, "app_name": "digits", "version": "1.0", "artifacts_to_delete": ["²"]}
    assert api.post("/artifact/delete", json=body).status_code == 400


def test_upload_as_the_dashboard_sends_it(api: Api) -> None:
    """useUploadQuery.ts: file parts first, then the `data` field (with `signature`)."""
    data = {
        "app_name": "dash",
        "version": "1.0",
        "channel": "",
        "publish": False,
        "critical": False,
        "intermediate": True,
        "platform": "linux",
        "arch": "",
        "signature": "ignored",
    }
    response = api.http.post(
        "/upload",
        files=[
            ("file", ("dash.AppImage", b"one")),
            ("file", ("dash.deb", b"two")),
            ("data", (None, json.dumps(data))),
        ],
    )
    assert response.status_code == 200, response.text
    version = api.version("dash", response.json()["uploadResult.Uploaded"])
    assert version["Intermediate"] is True
    assert [a["TufPath"] for a in version["Artifacts"]] == [
        f"dash-{api.username}/linux/dash-1.0.AppImage",
        f"dash-{api.username}/linux/dash-1.0.deb",
    ]
