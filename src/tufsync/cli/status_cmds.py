"""``tufsync status``: one repository (``--app``) or the expiry warnings of all of them.

Tables for people (rich), the same data as JSON with ``--json``.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tufsync.cli.client_cmds import check, client

console = Console()


def show_warnings(expiry: dict[str, Any]) -> None:
    warnings = expiry["warnings"]
    days = expiry["horizon_days"]
    if not warnings:
        console.print(f"No offline role expires within {days} days.")
        return
    console.print(f"[bold]Offline roles expiring within {days} days: {len(warnings)}[/bold]")
    table = Table()
    for column in ("app", "role", "expires", "days left", "renewal"):
        table.add_column(column)
    for w in warnings:
        if w["expired"]:
            left = f"[red]expired {abs(w['days_left']):.1f} days ago[/red]"
        else:
            left = f"[yellow]{w['days_left']:.1f}[/yellow]"
        renewal = "pending: awaits signatures" if w.get("renewal_pending") else "none"
        table.add_row(w["app"], w["role"], w["expires"], left, renewal)
    console.print(table)


def show_status(data: dict[str, Any]) -> None:
    for alert in data.get("alerts", []):
        console.print(f"[bold red]Attention:[/bold red] {alert}", soft_wrap=True)
    console.print(_roles_table(data["app"], data["roles"]))
    settings = data["settings"]
    console.print(_settings_table(settings))
    console.print(
        "targets signed "
        + ("online" if settings.get("targets_online_key") else "offline (by its key holders)")
    )
    drafts = data.get("drafts", [])
    if drafts:
        console.print(_drafts_table(drafts))
    else:
        console.print("Drafts awaiting signatures: none")
    console.print(_tasks_table(data["recent_tasks"]))
    show_warnings(data["expiry"])


def _drafts_table(drafts: list[dict[str, Any]]) -> Table:
    table = Table(title="Drafts awaiting signatures", title_justify="left")
    for column in ("role", "kind", "version", "expires"):
        table.add_column(column)
    for d in drafts:
        table.add_row(d["role"], d["kind"], str(d["version"]), d["expires"])
    return table


def _roles_table(app: str, roles: dict[str, Any]) -> Table:
    table = Table(title=f"Roles of {app}", title_justify="left")
    for column in ("role", "version", "expires", "signing"):
        table.add_column(column)
    for name, role in roles.items():
        table.add_row(name, str(role["version"]), role["expires"] or "-", role["signing"])
    return table


def _settings_table(settings: dict[str, Any]) -> Table:
    table = Table(title="Settings", title_justify="left")
    for column in ("role", "expiration (days)", "threshold", "keys"):
        table.add_column(column)
    for role in ("root", "timestamp", "snapshot", "targets"):
        table.add_row(
            role,
            str(settings[f"{role}_expiration"]),
            str(settings[f"{role}_threshold"]),
            str(settings[f"{role}_num_keys"]),
        )
    for name, rs in settings.get("delegated_roles", {}).items():
        table.add_row(name, str(rs["expiration"]), str(rs["threshold"]), str(rs["num_keys"]))
    return table


def _tasks_table(recent: list[dict[str, Any]]) -> Table:
    table = Table(title="Recent tasks", title_justify="left")
    table.add_column("task id", no_wrap=True, min_width=36)
    for column in ("task", "state", "last update (UTC)", "error"):
        table.add_column(column)
    for t in recent:
        when = t["last_update"][:19].replace("T", " ")
        table.add_row(t["task_id"], t["task"], t["state"], when, t.get("error") or "")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        app_name: str | None = typer.Option(
            None, "--app", help="One app; without it, expiry warnings of all your apps."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the data as JSON."),
    ) -> None:
        """Versions and expiry of every role, settings, drafts, recent tasks, expiry warnings."""
        with client() as http:
            if app_name is None:
                data = check(http.get("/tuf/v1/expiry"))["data"]
            else:
                data = check(http.get("/tuf/v1/status", params={"appName": app_name}))["data"]
        if as_json:
            typer.echo(json.dumps(data, indent=2, sort_keys=True))
        elif app_name is None:
            show_warnings(data)
        else:
            show_status(data)
