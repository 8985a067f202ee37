"""/openapi.json documents every TUF route from its models: a response model for its
success answer and, where it takes a body, the request model of its operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tufsync.api.app import create_app
from tufsync.operations.bootstrap import BootstrapRequest
from tufsync.settings import Settings


def _spec(tmp_path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = create_app(Settings(data_dir=tmp_path)).openapi()
    return spec


def test_every_tuf_route_declares_its_answer_and_body(tmp_path: Path) -> None:
    routes = [
        (path, method, op)
        for path, ops in _spec(tmp_path)["paths"].items()
        if path.startswith("/tuf/v1")
        for method, op in ops.items()
    ]
    assert len(routes) >= 17
    for path, method, op in routes:
        ok = [code for code in op["responses"] if code.startswith("2")]
        assert ok, (method, path)
        for code in ok:
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert set(schema) == {"$ref"}, (method, path, code, schema)  # the declared model
        if method in ("post", "put"):
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body.get("properties"), (method, path)


def test_the_bootstrap_body_is_the_operations_model(tmp_path: Path) -> None:
    op = _spec(tmp_path)["paths"]["/tuf/v1/bootstrap"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    model = BootstrapRequest.model_json_schema()
    assert (body["title"], set(body["properties"])) == (model["title"], set(model["properties"]))
    assert body["$defs"].keys() == model["$defs"].keys()
