"""The HTTP API: app factory, error envelopes, one router per area."""
