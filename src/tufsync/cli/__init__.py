"""The ``tufsync`` command line: server commands and key holders' tools."""
