"""Entry point of the ``tufsync`` command; each area lives in its own module."""

from __future__ import annotations

import typer

from tufsync import __version__
from tufsync.cli import (
    audit_cmds,
    client_cmds,
    keys_cmds,
    release_cmds,
    server_cmds,
    signing_cmds,
    status_cmds,
)

app = typer.Typer(
    name="tufsync",
    help="tufsync: a TUF repository service and the tools its key holders use.",
    no_args_is_help=True,
    add_completion=True,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"tufsync {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """tufsync: a TUF repository service and the tools its key holders use."""


server_cmds.register(app)
server_cmds.register_worker(app)
keys_cmds.register(app)
client_cmds.register(app)
signing_cmds.register(app)
release_cmds.register(app)
status_cmds.register(app)
audit_cmds.register(app)
