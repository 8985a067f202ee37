"""Allow ``python -m tufsync`` (the same command, shell completion included)."""

from tufsync.cli.main import app

app(prog_name="tufsync")
