"""Offline tools for key holders: key files and the bootstrap ceremony (no server code)."""
