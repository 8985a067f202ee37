"""``tufsync serve``: run the service (embedded mode unless settings say otherwise)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from tufsync.settings import Settings

console = Console(stderr=True)
STARTUP_FAILED = 3


def load_settings(**overrides: Any) -> Settings:
    """The settings, or exit 2 with each refused setting's sentence (nothing starts)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            console.print(
                f"[red]error:[/red] {escape(error['msg'].removeprefix('Value error, '))}",
                soft_wrap=True,
            )
        raise typer.Exit(2) from None


def _has_stored_signup_key(path: Path) -> bool:
    try:
        return "signup_key" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
        port: int = typer.Option(None, help="Port to listen on (default 9000)."),
        workers: int = typer.Option(
            1, min=1, help="API processes on this port (scale-out mode only)."
        ),
    ) -> None:
        """Start the API (and, in embedded mode, the task worker)."""
        import uvicorn

        from tufsync.api.httpserver import event_loop, server_options
        from tufsync.observability.logs import configure_logging

        overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        configured = load_settings(**overrides)
        secrets_file = configured.resolved_data_dir / "secrets.json"
        key_was_stored = _has_stored_signup_key(secrets_file)
        settings = configured.with_generated_secrets()
        if workers > 1 and not settings.scale_out:
            console.print(
                "[red]error:[/red] --workers needs scale-out mode (TUFSYNC_REDIS_URL): "
                "embedded mode runs its tasks inside the one API process"
            )
            raise typer.Exit(2)
        configure_logging(settings.log_level, settings.log_format)
        console.print(f"[bold]tufsync[/bold] listening on http://{settings.host}:{settings.port}")
        console.print(f"  data dir:        {settings.resolved_data_dir}")
        console.print(f"  online key dir:  {settings.resolved_online_key_dir}")
        console.print(f"  public files:    {settings.resolved_public_url}/")
        console.print(f"  database:        {settings.resolved_database_url}")
        console.print(f"  state store:     {settings.resolved_state_url}")
        if configured.signup_key:
            console.print("  signup key:      set by TUFSYNC_SIGNUP_KEY")
        elif key_was_stored:
            console.print(f"  signup key:      in {secrets_file}")
        else:  # generated just now: shown this once
            console.print(
                f"  signup key:      {settings.signup_key} (shown once; kept in {secrets_file})"
            )
        console.print(f"  API docs:        http://{settings.host}:{settings.port}/docs")
        console.print(f"  metrics:         http://{settings.host}:{settings.port}/metrics")
        if workers > 1:
            _share_metrics(settings)
            os.environ["TUFSYNC_HOST"] = settings.host
            os.environ["TUFSYNC_PORT"] = str(settings.port)
            uvicorn.run(
                "tufsync.api.app:create_app_from_env",
                factory=True,
                workers=workers,
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                loop=event_loop(),
                **server_options(settings.max_request_head_bytes),
                # A minute to start each process: uvicorn's default of 5 s kills processes
                # that import slowly on a busy machine, over and over (since uvicorn 0.37).
                timeout_worker_healthcheck=60,
            )
            return
        from tufsync.api.app import create_app

        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                loop=event_loop(),
                **server_options(settings.max_request_head_bytes),
            )
        )
        with contextlib.suppress(SystemExit):  # uvicorn's way of saying start-up failed
            server.run()
        if not server.started:
            console.print("[red]error:[/red] tufsync did not start (the reason is logged above)")
            sys.stdout.flush()
            sys.stderr.flush()
            # Exit now: a part that failed half-way may have left a thread that would
            # otherwise keep the process alive without listening.
            os._exit(STARTUP_FAILED)


def _share_metrics(settings: Settings) -> None:
    """Several API processes: one emptied PROMETHEUS_MULTIPROC_DIR for all of them."""
    from tufsync.observability.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    path = Path(os.environ.get(MULTIPROC_ENV) or settings.resolved_data_dir / "prometheus")
    prepare_multiprocess_dir(path)
    os.environ[MULTIPROC_ENV] = str(path)
    console.print(f"  metrics dir:     {path} (shared by {MULTIPROC_ENV})")


def register_worker(app: typer.Typer) -> None:
    @app.command()
    def worker() -> None:
        """Run tasks from the Redis queue (scale-out mode), plus the refresh scheduler."""
        import asyncio

        from tufsync.api.worker_app import run_event_loop, serve_worker_http
        from tufsync.observability.logs import configure_logging
        from tufsync.observability.metrics import process_exiting
        from tufsync.services import Services, StartupRefused, settle_heap

        settings = load_settings()
        if not settings.scale_out:
            console.print("[red]error:[/red] set TUFSYNC_REDIS_URL: workers take tasks from Redis")
            raise typer.Exit(2)

        configure_logging(settings.log_level, settings.log_format)

        async def main() -> None:
            services = await Services.start(settings, embedded_worker=False)
            settle_heap()
            services.start_scheduler()
            receiver = asyncio.create_task(services.queue.run_worker())
            http: asyncio.Task[None] | None = None
            if settings.worker_port:
                http = asyncio.create_task(
                    serve_worker_http(
                        services, receiver, settings.worker_host, settings.worker_port
                    )
                )
                console.print(
                    f"  health and metrics: http://{settings.worker_host}:{settings.worker_port}"
                )
            console.print("tufsync worker started")
            try:
                await receiver
            finally:
                if http is not None:
                    http.cancel()
                    await asyncio.gather(http, return_exceptions=True)
                await services.stop()
                process_exiting()

        try:
            run_event_loop(main())
        except StartupRefused as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(STARTUP_FAILED) from None

    db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Apply every Alembic migration to the database, then rename the state store's
        entries to the newest key names (stop every tufsync process first)."""
        import asyncio

        from tufsync.db import engine as db_engine
        from tufsync.state import migrate as state_migrate
        from tufsync.state import open_state_store
        from tufsync.storage import open_configured_store

        settings = load_settings()

        async def main() -> state_migrate.MigrationReport:
            engine = db_engine.make_engine(settings.resolved_database_url)
            try:
                await db_engine.upgrade(engine)
            finally:
                await engine.dispose()
            state = await open_state_store(settings.resolved_state_url)
            try:
                storage = open_configured_store(settings)
                if not await state_migrate.pending(state):
                    return state_migrate.MigrationReport()
                return await state_migrate.upgrade(state, storage)
            finally:
                await state.close()

        report = asyncio.run(main())
        console.print("database is at the newest migration")
        console.print(
            f"state store is at the newest key names ({len(report.moved)} entries renamed, "
            f"{len(report.dropped)} short-lived entries dropped)"
        )
        for old, reason in sorted(report.unresolved.items()):
            console.print(
                f"[yellow]warning:[/yellow] {old} was given to no repository ({reason}); "
                "its owner can rebuild it with POST /tuf/v1/bootstrap/recovery"
            )

    app.add_typer(db_app, name="db")
