"""Bases shared by the request models of the operations."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Loose(BaseModel):
    """A body whose unknown fields are kept (clients send extra fields)."""

    model_config = ConfigDict(extra="allow")
