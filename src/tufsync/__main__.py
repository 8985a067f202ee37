"""Allow ``python -m tufsync``."""

from tufsync.cli.main import app

app()
