"""``tufsync audit``: the audit trail of one app, as a table or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from tufsync.cli.client_cmds import check, client
from tufsync.cli.output import console


def _summary(details: dict[str, object]) -> str:
    return ", ".join(
        f"{key}={json.dumps(value, separators=(',', ':'))}" for key, value in details.items()
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        app_name: str = typer.Option(..., "--app"),
        page: int = typer.Option(1, "--page", min=1, help="Page number, newest events first."),
        limit: int = typer.Option(50, "--limit", min=1, max=500, help="Events per page."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Who changed the app's trust, when and how: newest first."""
        with client() as http:
            body = check(
                http.get(
                    "/tuf/v1/audit", params={"appName": app_name, "page": page, "limit": limit}
                )
            )
        data = body["data"]
        if as_json:
            typer.echo(json.dumps(data, indent=2, sort_keys=True))
            return
        table = Table(title=f"audit trail of {app_name} ({data['total']} events, page {page})")
        for column in ("time (UTC)", "event", "actor", "task"):
            table.add_column(column, no_wrap=True)
        table.add_column("details", overflow="fold")
        for item in data["items"]:
            moment = datetime.fromisoformat(item["time"]).astimezone(UTC)
            table.add_row(
                moment.strftime("%Y-%m-%d %H:%M:%S"),
                item["event"],
                item["actor"],
                (item["task_id"] or "")[:8],
                _summary(item["details"]),
            )
        console.print(table)
