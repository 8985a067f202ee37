"""Entry point of the ``tufsync`` command; each area lives in its own module."""

from __future__ import annotations

import typer

from tufsync.cli import client_cmds, keys_cmds, server_cmds, signing_cmds

app = typer.Typer(
    name="tufsync",
    help="tufsync: a TUF repository service and the tools its key holders use.",
    no_args_is_help=True,
    add_completion=False,
)
server_cmds.register(app)
server_cmds.register_worker(app)
keys_cmds.register(app)
client_cmds.register(app)
signing_cmds.register(app)
signing_cmds.register_status(app)
