"""Operations routes and the OpenAPI description."""

from __future__ import annotations

import httpx

from tests.support import ServerProcess


def test_health_ready_docs(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "healthy"}
    assert httpx.get(f"{server.url}/ready").json() == {"status": "ready"}
    assert httpx.get(f"{server.url}/docs").status_code == 200
    spec = httpx.get(f"{server.url}/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/signup",
        "/login",
        "/whoami",
        "/app/create",
        "/app/list",
        "/upload",
        "/search",
        "/artifact/delete",
        "/apps/delete",
        "/tuf/v1/bootstrap",
        "/tuf/v1/bootstrap/recovery",
        "/tuf/v1/task",
        "/tuf/v1/artifacts/publish",
        "/tuf/v1/artifacts/delete",
        "/tuf/v1/config",
        "/tuf/v1/metadata",
        "/tuf/v1/metadata/sign",
        "/tuf/v1/metadata/sign/delete",
        "/tuf/v1/metadata/delegated/rotate",
        "/tuf/v1/metadata/online",
        "/tuf/v1/metadata/root",
        "/tuf/v1/metadata/targets",
        "/tuf/v1/metadata/delegated",
    ):
        assert path in paths, path


def test_unknown_route_and_method(server: ServerProcess) -> None:
    missing = httpx.get(f"{server.url}/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "Not found"}
    wrong = httpx.delete(f"{server.url}/health")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method not allowed"}


def test_ready_names_a_failing_part(tmp_path_factory: object) -> None:
    """With the object store gone (a file where its folder should be), /ready says so."""
    import pytest

    from tests.support import run_server

    factory = tmp_path_factory
    assert isinstance(factory, pytest.TempPathFactory)
    data = factory.mktemp("broken")
    with run_server(data) as broken:
        public = data / "public"
        for child in sorted(public.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        public.rmdir()
        public.write_text("not a directory")
        response = httpx.get(f"{broken.url}/ready")
        assert response.status_code == 503
        assert "object store" in response.json()["error"]
