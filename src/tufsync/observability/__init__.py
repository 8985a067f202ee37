"""Logs, metrics and expiry watching: what operators see of a running tufsync."""
