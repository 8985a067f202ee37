"""What ``POST /tuf/v1/artifacts/publish`` selects: every channel's row of the version,
only unsigned artifacts, only the caller's own apps (one query under the registry lock)."""

from __future__ import annotations

from collections.abc import Callable

from tests.support import Api, ceremony


def _app_id(api: Api, app: str) -> str:
    apps = api.get("/app/list").json()["apps"]
    return str(next(a["ID"] for a in apps if a["AppName"] == app))


def _publish(api: Api, app_id: str, version: str) -> dict[str, object]:
    response = api.post("/tuf/v1/artifacts/publish", json={"app_id": app_id, "version": version})
    assert response.status_code == 202, response.text
    data: dict[str, object] = response.json()["data"]
    assert api.wait_task(str(data["task_id"]))["state"] == "SUCCESS"
    return data


def test_publish_selects_unsigned_artifacts_of_every_channel(
    api: Api, make_api: Callable[[], Api]
) -> None:
    app = "selapp"
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)
    stable = api.upload_ok(app, "1.0", {"s.bin": b"stable"}, channel="stable")
    beta = api.upload_ok(app, "1.0", {"b.deb": b"beta", "c.rpm": b"beta c"}, channel="beta")
    api.upload_ok(app, "2.0", {"other.bin": b"other version"}, channel="stable")
    application = _app_id(api, app)
    paths = {
        vid: [a["TufPath"] for a in api.version(app, vid)["Artifacts"]] for vid in (stable, beta)
    }

    # By version id (older clients): that row alone.
    assert sorted(_publish(api, beta, "1.0")["artifacts"]) == sorted(paths[beta])
    # By application id: every channel's row of 1.0, and only what is still unsigned.
    assert _publish(api, application, "1.0")["artifacts"] == paths[stable]
    again = api.post("/tuf/v1/artifacts/publish", json={"app_id": application, "version": "1.0"})
    assert again.status_code == 200 and again.json()["data"]["artifacts"] == []
    for vid in (stable, beta):
        assert all(a["TufSigned"] for a in api.version(app, vid)["Artifacts"])

    # Another tenant's application or version id answers like a missing one.
    other = make_api()
    other.bootstrap_ok(ceremony(other.server.key_dir, other.username, app).payload)
    other.upload_ok(app, "2.0", {"mine.bin": b"mine"})
    for foreign in (application, stable):
        refused = other.post(
            "/tuf/v1/artifacts/publish", json={"app_id": foreign, "version": "2.0"}
        )
        assert refused.status_code == 404, refused.text
        assert refused.json() == {"error": f"App version not found: app_id={foreign}, version=2.0"}
    assert not any(
        a["TufSigned"] for a in api.version(app, _version_id(api, app, "2.0"))["Artifacts"]
    )


def _version_id(api: Api, app: str, version: str) -> str:
    found = api.get("/search", params={"app_name": app, "limit": 1000}).json()["items"]
    return str(next(v["ID"] for v in found if v["Version"] == version))
