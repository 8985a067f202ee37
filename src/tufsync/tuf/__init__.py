"""The TUF engine on python-tuf. Free of HTTP: routers and tasks call into it."""
