"""tufsync: a TUF repository service for software update servers."""

__version__ = "0.1.0"
