"""``tufsync serve``: run the service (embedded mode unless settings say otherwise)."""

from __future__ import annotations

import typer
from rich.console import Console

from tufsync.settings import Settings

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
        port: int = typer.Option(None, help="Port to listen on (default 9000)."),
    ) -> None:
        """Start the API (and, in embedded mode, the task worker)."""
        import uvicorn

        from tufsync.api.app import create_app

        overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        settings = Settings(**overrides).with_generated_secrets()  # type: ignore[arg-type]
        console.print(f"[bold]tufsync[/bold] listening on http://{settings.host}:{settings.port}")
        console.print(f"  data dir:        {settings.resolved_data_dir}")
        console.print(f"  online key dir:  {settings.resolved_online_key_dir}")
        console.print(f"  public files:    {settings.resolved_public_url}/")
        console.print(f"  database:        {settings.resolved_database_url}")
        console.print(f"  state store:     {settings.resolved_state_url}")
        console.print(f"  signup key:      {settings.signup_key}")
        console.print(f"  API docs:        http://{settings.host}:{settings.port}/docs")
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
        )
