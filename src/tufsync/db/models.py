"""SQLAlchemy models of the registry. The Alembic migrations mirror this file."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_token_generation() -> str:
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    pass


# Column kinds several tables share (the migrations spell each one out).


def _hex_id() -> MappedColumn[str]:
    """A primary key of 32 hex characters (``queries.new_id``)."""
    return mapped_column(String(32), primary_key=True)


def _parent(target: str) -> MappedColumn[Any]:
    """An indexed reference to the row that owns this one; deleted with it."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), nullable=False, index=True)


def _flag() -> MappedColumn[bool]:
    return mapped_column(Boolean, default=False)


def _stamp() -> MappedColumn[datetime]:
    """When the row was created or last changed (UTC)."""
    return mapped_column(DateTime(timezone=True), default=utcnow)


class _OwnedRow:
    """A row of one account's (apps, catalogue entries, API tokens): a hex id and the
    owner, deleted with the account; both come first in the table."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, sort_order=-2)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True, sort_order=-1
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # A random value per account, carried by its login tokens: an account deleted and
    # re-created under the same name gets a new one, so old tokens stop working.
    token_generation: Mapped[str] = mapped_column(
        String(64), nullable=False, default=new_token_generation
    )
    created_at: Mapped[datetime] = _stamp()


# Usernames are unique regardless of case (docs/api.md §1); login is by the exact name.
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class App(_OwnedRow, Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_apps_owner_name"),)

    name: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(String(1024), default="")
    logo: Mapped[str] = mapped_column(String(1024), default="")
    private: Mapped[bool] = _flag()
    tuf: Mapped[bool] = _flag()
    reports: Mapped[bool] = _flag()
    cdn_edge: Mapped[bool] = _flag()
    updated_at: Mapped[datetime] = _stamp()


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("app_id", "version", "channel", name="uq_versions_app_version_channel"),
    )

    id: Mapped[str] = _hex_id()
    app_id: Mapped[str] = _parent("apps.id")
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    published: Mapped[bool] = _flag()
    critical: Mapped[bool] = _flag()
    intermediate: Mapped[bool] = _flag()
    changelog: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = _stamp()

    app: Mapped[App] = relationship(lazy="joined")
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="version_row",
        order_by="Artifact.id",
        cascade="all, delete-orphan",
        lazy="raise",
    )


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = _parent("versions.id")
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    arch: Mapped[str] = mapped_column(String(32), nullable=False)
    package: Mapped[str] = mapped_column(String(40), nullable=False)
    length: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    sha512: Mapped[str] = mapped_column(String(128), nullable=False)
    tuf_path: Mapped[str] = mapped_column(String(512), unique=True, nullable=False)
    tuf_signed: Mapped[bool] = _flag()
    tuf_task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The offline role whose draft lists this artifact, awaiting its holders' signatures.
    tuf_awaiting: Mapped[str | None] = mapped_column(String(64), nullable=True)

    version_row: Mapped[Version] = relationship(back_populates="artifacts")


class AuditEvent(Base):
    """One change to a repository's trust (see tufsync.db.audit); kept until the app goes."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_owner_app_id", "owner_id", "app", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    app: Mapped[str] = mapped_column(String(64), nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )


class CatalogItem(_OwnedRow, Base):
    """One entry of an admin's channel, platform or arch catalogue (``kind``)."""

    __tablename__ = "catalog_items"
    __table_args__ = (
        UniqueConstraint("owner_id", "kind", "name", name="uq_catalog_owner_kind_name"),
    )

    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    updaters: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = _stamp()


class ApiToken(_OwnedRow, Base):
    """A long-lived API token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(128), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    token_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    allowed_apps: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = _stamp()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TufClaim(Base):
    """A target path that a queued TUF task (publish or removal) will touch.

    While a claim exists no other request overwrites or deletes the path; the
    task drops its claims when it ends (SUCCESS or FAILURE).
    """

    __tablename__ = "tuf_claims"

    tuf_path: Mapped[str] = mapped_column(String(512), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[datetime] = _stamp()


class TenantUsage(Base):
    """Bytes of artifacts one admin has stored (the storage quota's count), kept true
    by database triggers on artifacts, versions and apps (migration 0007)."""

    __tablename__ = "tenant_usage"

    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    stored_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
