"""A request whose database connection was lost (terminated, the database
restarting) answers 503 with the error envelope, never 500; a statement error
stays an internal error."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, InterfaceError

from tufsync.api.errors import ERROR_ID_HEADER, install_error_handlers


class _Closed(Exception):
    """Stands for the driver's error (asyncpg: the underlying connection is closed)."""


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/lost")
    async def lost() -> None:
        raise InterfaceError(
            "COMMIT", None, _Closed("cannot call Transaction.commit(): connection is closed")
        )

    @app.post("/constraint")
    async def constraint() -> None:
        raise IntegrityError("INSERT", None, _Closed("duplicate key"))

    return app


def test_lost_database_connection_is_503_with_the_envelope() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    response = client.post("/lost")
    assert response.status_code == 503
    assert response.json() == {"error": "Database unavailable; try again later"}


def test_a_statement_error_stays_an_internal_error() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    response = client.post("/constraint")
    assert response.status_code == 500
    assert ERROR_ID_HEADER in response.headers
