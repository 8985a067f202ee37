"""Service configuration: environment variables (prefix ``TUFSYNC_``) and ``.env``.

Owns the defaults of the embedded mode (everything under one data directory)
and the first-start generation of the JWT secret and the signup key, which are
persisted in ``<data dir>/secrets.json`` so restarts keep tokens valid.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tufsync.signer_uris import check_setting

GIB = 1024**3


class Settings(BaseSettings):
    """All knobs of the service. Unset URLs fall back to the embedded mode."""

    model_config = SettingsConfigDict(env_prefix="TUFSYNC_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./tufsync-data")
    host: str = "127.0.0.1"
    port: int = 9000
    database_url: str | None = None
    redis_url: str | None = None
    state_url: str | None = None
    storage_url: str | None = None
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    online_key_dir: Path | None = None
    signup_key: str | None = None
    jwt_secret: str | None = None
    public_url: str | None = None
    token_lifetime_hours: int = Field(default=24, ge=1)
    max_upload_bytes: int = Field(default=2 * GIB, ge=1)
    # A request's line and headers together (431 beyond, counted while they stream in).
    max_request_head_bytes: int = Field(default=64 * 1024, ge=8 * 1024, le=1024 * 1024)
    # Bytes of artifacts one admin may keep stored (sum of artifact lengths; 0: no
    # limit) and the free space uploads leave on the data's filesystem for metadata,
    # deletions and the refresh (0: none); see tufsync.registry.quota.
    tenant_quota_bytes: int = Field(default=10 * GIB, ge=0)
    disk_reserve_bytes: int = Field(default=512 * 1024**2, ge=0)
    log_level: str = "info"
    # Log lines as plain text (default) or one JSON object per line.
    log_format: Literal["text", "json"] = "text"
    # Who may read /metrics besides loopback: networks (CIDR) and/or a bearer token.
    # TUFSYNC_METRICS_ALLOW: comma-separated, e.g. "10.0.0.0/8,192.168.1.7".
    metrics_allow: str = ""
    metrics_token: str | None = None
    # `tufsync worker` serves /health, /ready and /metrics on this port (unset: not at
    # all; each worker on one host needs a port of its own, e.g. 9101, 9102).
    worker_port: int | None = Field(default=None, ge=1, le=65535)
    worker_host: str = "127.0.0.1"
    # Offline roles (root, offline targets, offline delegated roles) expiring within
    # this many days are listed by GET /tuf/v1/expiry, counted and logged daily.
    expiry_warning_days: int = Field(default=30, ge=1, le=3650)
    # Offline roles other than root (offline targets, offline delegated roles) get a
    # renewal draft (same content, version + 1, a new expiry) this many days before
    # they expire, for their key holders to sign; unset: the warning horizon above.
    offline_renewal_days: int | None = Field(default=None, ge=1, le=3650)
    refresh_interval_seconds: float = Field(default=60.0, gt=0)
    # Online keys made by the server (POST /tuf/v1/keys/online): how many one app may
    # hold that no published role uses, and after how many days such a key is removed.
    unused_online_keys_max: int = Field(default=20, ge=1, le=10000)
    unused_online_key_days: float = Field(default=7, gt=0, le=3650)
    # Signer URIs (KMS, Vault, HSM, file2:) an operator allows, per admin ("*": every
    # admin), with {admin} and {app} standing for the tenant, e.g.
    # {"*": ["file2:/srv/hsm-keys/{admin}/{app}/"]}. Checked by tufsync.signer_uris:
    # a setting that lets two admins reach one key is refused.
    signer_uri_prefixes: dict[str, list[str]] = Field(default_factory=dict)
    task_redelivery_seconds: float = Field(default=60.0, gt=0)
    # POST /tuf/v1/metadata/sign whose signature meets the threshold answers once the
    # draft is published, or after this many seconds with the task id (docs/api.md).
    finalize_wait_seconds: float = Field(default=30.0, ge=0, le=600)
    worker_concurrency: int = Field(default=32, ge=1)
    # Failed login/signup attempts allowed per client address and per username
    # (``limits`` notation, e.g. "10/minute"); argon2 threads and waiting checks.
    login_limit_per_client: str = "30/minute"
    login_limit_per_username: str = "10/minute"
    password_hash_workers: int = Field(default=2, ge=1, le=64)
    password_hash_max_waiting: int = Field(default=32, ge=0)
    # Scale-out: staging objects older than this are leftovers of crashed uploads (no
    # upload's copy into the store takes this long) and are swept at start-up.
    staging_max_age_seconds: float = Field(default=6 * 3600, gt=0)

    @field_validator("login_limit_per_client", "login_limit_per_username")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit such as '10/minute'") from exc
        return value

    # Browser origins allowed to call the API (comma-separated, as faynoSync's
    # ALLOWED_CORS); the default admits the faynoSync dashboard's own dev server.
    allowed_cors: str = "http://localhost:3000,http://127.0.0.1:3000"

    @property
    def cors_origins(self) -> list[str]:
        """The allowed CORS origins, one entry per comma-separated value."""
        return [o.strip() for o in self.allowed_cors.split(",") if o.strip()]

    @field_validator("signer_uri_prefixes")
    @classmethod
    def _signer_uris_bound_to_one_tenant(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        check_setting(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError("log_level must be one of critical, error, warning, info, debug")
        return value.lower()

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for network in value.split(","):
            if network.strip():
                ipaddress.ip_network(network.strip(), strict=False)  # ValueError names it
        return value

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Networks allowed to read /metrics besides loopback."""
        return [
            ipaddress.ip_network(n.strip(), strict=False)
            for n in self.metrics_allow.split(",")
            if n.strip()
        ]

    @property
    def renewal_days(self) -> int:
        """Days before expiry an offline role's renewal draft is prepared."""
        return self.offline_renewal_days or self.expiry_warning_days

    @property
    def scale_out(self) -> bool:
        """True when tasks go through Redis to ``tufsync worker`` processes."""
        return bool(self.redis_url)

    # -- derived values -------------------------------------------------
    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.resolved_data_dir / 'tufsync.db'}"

    @property
    def resolved_state_url(self) -> str:
        return (
            self.state_url or self.redis_url or f"sqlite:///{self.resolved_data_dir / 'state.db'}"
        )

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.resolved_data_dir / "public").as_uri()

    @property
    def resolved_online_key_dir(self) -> Path:
        if self.online_key_dir:
            return self.online_key_dir.expanduser().resolve()
        return self.resolved_data_dir / "keys"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/public"

    def with_generated_secrets(self) -> Settings:
        """Return a copy whose JWT secret and signup key are set.

        Missing values are generated once and stored (mode 0600) in
        ``<data dir>/secrets.json``; later starts read them back.
        """
        data_dir = self.resolved_data_dir
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = data_dir / "secrets.json"
        stored: dict[str, str] = {}
        if path.exists():
            stored = json.loads(path.read_text())
        changed = False
        for name in ("jwt_secret", "signup_key"):
            if name not in stored:
                stored[name] = secrets.token_urlsafe(32)
                changed = True
        if changed:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(stored, handle)
        return self.model_copy(
            update={
                "jwt_secret": self.jwt_secret or stored["jwt_secret"],
                "signup_key": self.signup_key or stored["signup_key"],
            }
        )
