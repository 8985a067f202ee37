"""App registry routes: create, list, upload, search, delete, and their errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from tests.conftest import UPLOAD_LIMIT
from tests.support import Api


def public_keys(api: Api) -> set[str]:
    root = api.server.public_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_create_and_list_apps(api: Api) -> None:
    response = api.post(
        "/app/create", data={"data": json.dumps({"app": "one", "description": "d"})}
    )
    assert response.status_code == 200
    app_id = response.json()["createAppResult.Created"]
    assert api.post("/app/create", json={"app": "two"}).status_code == 200
    duplicate = api.post("/app/create", json={"app": "one"})
    assert duplicate.status_code == 409
    apps = api.get("/app/list").json()["apps"]
    assert [a["AppName"] for a in apps] == ["one", "two"]
    assert apps[0]["ID"] == app_id and apps[0]["Description"] == "d"
    bad = api.post("/app/create", json={"app": "../etc"})
    assert bad.status_code == 400
    assert "app" in bad.json()["error"]


def test_upload_hashes_and_paths(api: Api) -> None:
    content = b"\x00binary\xff" * 100
    version_id = api.upload_ok(
        "tool",
        "2.0.1",
        {"tool.deb": content, "tool.tar.gz": b"tarball"},
        platform="linux",
        arch="x64",
        channel="stable",
        changelog="fixes",
    )
    version = api.version("tool", version_id)
    assert version["Version"] == "2.0.1" and version["Channel"] == "stable"
    deb, tgz = version["Artifacts"]
    assert deb["Index"] == "0" and tgz["Index"] == "1"
    assert deb["TufPath"] == f"tool-{api.username}/stable/linux/x64/tool-2.0.1.deb"
    assert tgz["package"] == ".gz"  # faynoSync takes the last suffix
    assert deb["Length"] == len(content)
    assert deb["Hashes"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert deb["Hashes"]["sha512"] == hashlib.sha512(content).hexdigest()
    assert deb["TufSigned"] is False
    assert deb["link"] == f"{api.server.public_url}/{deb['TufPath']}"
    assert version["Changelog"][0]["Changes"] == "fixes"
    served = api.http.get(f"/public/{deb['TufPath']}")
    assert served.status_code == 200 and served.content == content
    head = api.http.head(f"/public/{deb['TufPath']}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(content))


def test_upload_same_version_adds_artifacts_and_defaults(api: Api) -> None:
    first = api.upload_ok("adder", "1.0", {"a.zip": b"one"})
    second = api.upload_ok("adder", "1.0", {"a.exe": b"two"}, platform="windows")
    assert first == second
    artifacts = api.version("adder", first)["Artifacts"]
    assert [a["TufPath"].split("/", 1)[1] for a in artifacts] == [
        "adder-1.0.zip",
        "windows/adder-1.0.exe",
    ]
    # Same bytes again: accepted, nothing duplicated.
    assert api.upload_ok("adder", "1.0", {"a.zip": b"one"}) == first
    assert len(api.version("adder", first)["Artifacts"]) == 2


def test_upload_conflict_keeps_the_original(api: Api) -> None:
    version_id = api.upload_ok("clash", "1.0", {"x.deb": b"original"})
    before = public_keys(api)
    response = api.upload("clash", "1.0", {"x.deb": b"different"})
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]
    artifact = api.version("clash", version_id)["Artifacts"][0]
    assert api.http.get(f"/public/{artifact['TufPath']}").content == b"original"
    assert public_keys(api) == before
    dup = api.upload("clash", "2.0", {"a.deb": b"1", "b.deb": b"2"})
    assert dup.status_code == 409


def test_upload_validation_errors(api: Api) -> None:
    cases = [
        ({"app_name": "ok", "version": "bad/version"}, "version"),
        ({"app_name": "..", "version": "1.0"}, "app_name"),
        ({"app_name": "ok", "version": "1.0", "channel": "a/b"}, "channel"),
        ({"app_name": "ok", "version": "1.0", "platform": "../x"}, "platform"),
        ({"app_name": "ok"}, "version"),
        ({"app_name": "ok", "version": "1.0", "publish": "maybe"}, "publish"),
    ]
    for data, fragment in cases:
        response = api.http.post(
            "/upload", data={"data": json.dumps(data)}, files=[("file", ("f.deb", b"x"))]
        )
        assert response.status_code == 400, data
        assert fragment in response.json()["error"], response.json()
    no_file = api.http.post("/upload", data={"data": json.dumps({"app_name": "a", "version": "1"})})
    assert no_file.status_code == 400
    assert "file" in no_file.json()["error"]
    bad_json = api.http.post("/upload", data={"data": "{oops"}, files=[("file", ("f", b"x"))])
    assert bad_json.status_code == 400
    loose = api.http.post(
        "/upload",
        data={"app_name": "loose", "version": "1.0", "platform": "linux"},
        files=[("file", ("f.deb", b"x"))],
    )
    assert loose.status_code == 200


def test_upload_too_large_leaves_nothing(api: Api) -> None:
    before = public_keys(api)
    response = api.upload("big", "1.0", {"big.bin": b"x" * (UPLOAD_LIMIT + 10)})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert public_keys(api) == before
    assert api.get("/search", params={"app_name": "big"}).json()["items"] == []


def test_search_filters(api: Api) -> None:
    api.upload_ok("s", "1.0", {"a.deb": b"1"}, platform="linux", publish=True)
    api.upload_ok("s", "2.0", {"a.dmg": b"2"}, platform="darwin", channel="beta")
    every = api.get("/search", params={"app_name": "s"}).json()["items"]
    assert {v["Version"] for v in every} == {"1.0", "2.0"}
    by_platform = api.get("/search", params={"app_name": "s", "platform": "darwin"}).json()["items"]
    assert [v["Version"] for v in by_platform] == ["2.0"]
    by_channel = api.get("/search", params={"channel": "beta"}).json()["items"]
    assert [v["Version"] for v in by_channel] == ["2.0"]
    published = api.get("/search", params={"app_name": "s", "published": "true"}).json()["items"]
    assert [v["Version"] for v in published] == ["1.0"]
    assert len(api.get("/search", params={"app_name": "s", "limit": "1"}).json()["items"]) == 1
    for params in ({"limit": "zero"}, {"limit": "0"}, {"published": "perhaps"}, {"arch": "a/b"}):
        assert api.get("/search", params=params).status_code == 400


def test_delete_artifacts_and_versions(api: Api) -> None:
    version_id = api.upload_ok("del", "1.0", {"a.deb": b"1", "a.rpm": b"2"})
    paths = [a["TufPath"] for a in api.version("del", version_id)["Artifacts"]]
    body = {"id": version_id, "app_name": "del", "version": "1.0", "artifacts_to_delete": ["5"]}
    assert api.post("/artifact/delete", json=body).status_code == 400
    body["artifacts_to_delete"] = ["x"]
    assert api.post("/artifact/delete", json=body).status_code == 400
    body["artifacts_to_delete"] = ["0"]
    body["version"] = "9.9"
    assert api.post("/artifact/delete", json=body).status_code == 400
    body["version"] = "1.0"
    response = api.post("/artifact/delete", data={"data": json.dumps(body)})
    assert response.json() == {"deleteSpecificArtifactResult": True}
    remaining = api.version("del", version_id)["Artifacts"]
    assert [a["TufPath"] for a in remaining] == [paths[1]]
    assert remaining[0]["Index"] == "0"
    assert api.http.get(f"/public/{paths[0]}").status_code == 404
    assert api.http.delete("/apps/delete").status_code == 400
    assert api.http.delete("/apps/delete", params={"id": "nope"}).status_code == 404
    gone = api.http.delete("/apps/delete", params={"id": version_id})
    assert gone.json() == {"deleteSpecificAppResult.DeletedCount": 1}
    assert api.get("/search", params={"app_name": "del"}).json()["items"] == []
    assert api.http.get(f"/public/{paths[1]}").status_code == 404


def test_public_route_serves_only_public_keys(api: Api) -> None:
    secret = api.server.public_dir / "tuf_private" / "x" / "y" / "settings.json"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("{}")
    for key in (
        "tuf_private/x/y/settings.json",
        "../secrets.json",
        "%2e%2e/secrets.json",
        "tuf_metadata/../tuf_private/x/y/settings.json",
        "random.txt",
        "tuf_metadata/nobody/none/timestamp.json",
    ):
        response = api.http.get(f"/public/{key}")
        assert response.status_code == 404, key
        assert response.json() == {"error": "Not found"}


def test_foreign_versions_are_invisible(make_api: Callable[[], Api]) -> None:
    owner, other = make_api(), make_api()
    version_id = owner.upload_ok("private", "1.0", {"p.deb": b"secret"})
    assert other.get("/search", params={"app_name": "private"}).json()["items"] == []
    assert other.get("/app/list").json()["apps"] == []
    body = {"id": version_id, "app_name": "private", "version": "1.0", "artifacts_to_delete": ["0"]}
    assert other.post("/artifact/delete", json=body).status_code == 404
    assert other.http.delete("/apps/delete", params={"id": version_id}).status_code == 404
    assert len(owner.version("private", version_id)["Artifacts"]) == 1
