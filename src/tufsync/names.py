"""Naming rules shared by every layer: usernames, app names, versions, storage keys.

Every name that ends up in a storage key or a TUF target path is checked here,
so no input can make the service read or write outside its own prefix.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{3,32}$")
APP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXTENSION_RE = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")

TOP_LEVEL_ROLES = ("root", "targets", "snapshot", "timestamp")
TRUSTED_PREFIX = "trusted_"
# faynoSync's updater names; only those whose storage layout is faynoSync's default
# layout are offered (their update-check feeds are out of scope either way).
DEFAULT_LAYOUT_UPDATERS = ("", "manual", "squirrel_darwin", "tauri")
UNOFFERED_UPDATERS = ("electron-builder", "squirrel_windows", "velopack", "sparkle")
METADATA_PREFIX = "tuf_metadata"
PRIVATE_PREFIX = "tuf_private"


class InvalidName(ValueError):
    """A name or path that breaks the naming rules; the message says which."""


def check_username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise InvalidName("username must be 3 to 32 characters of letters, digits and underscore")
    return value


def check_app_name(value: str, field: str = "appName") -> str:
    if not isinstance(value, str) or not APP_NAME_RE.fullmatch(value) or ".." in value:
        raise InvalidName(
            f"{field} must start with a letter or digit and contain only letters, digits, "
            "'.', '_' or '-' (at most 64 characters)"
        )
    return value


def check_version(value: str) -> str:
    if not VERSION_RE.fullmatch(value) or ".." in value:
        raise InvalidName(
            "version must start with a letter or digit and contain only letters, digits, "
            "'.', '+', '_' or '-' (at most 64 characters)"
        )
    return value


def check_segment(value: str, field: str) -> str:
    """Check a channel, platform or arch; an empty value means "not given" and stays empty."""
    if value == "":
        return ""
    if not SEGMENT_RE.fullmatch(value) or ".." in value:
        raise InvalidName(
            f"{field} must start with a letter or digit and contain only letters, digits, "
            "'.', '_' or '-' (at most 32 characters)"
        )
    return value


def check_updater(value: str) -> str:
    """Check an upload's ``updater``: only faynoSync's default storage layout is offered."""
    if value in DEFAULT_LAYOUT_UPDATERS:
        return value
    if value in UNOFFERED_UPDATERS:
        raise InvalidName(
            f"updater {value!r} is not offered by tufsync: its storage layout and update feeds "
            "are faynoSync-specific; upload without 'updater' (or with 'manual') to use the "
            "default layout"
        )
    raise InvalidName(
        f"updater {value[:40]!r} is unknown; use 'manual' or leave it out (the default layout)"
    )


def check_role_name(value: str) -> str:
    """A delegated role name. It may not start with ``trusted_`` (any case): GET
    /tuf/v1/metadata/sign lists drafts next to ``trusted_<role>`` versions, so such a
    draft could pose as a trusted version (docs/api.md §5.5)."""
    if not ROLE_NAME_RE.fullmatch(value) or ".." in value:
        raise InvalidName(
            f"role name {value!r} must start with a letter or digit and contain only letters, "
            "digits, '.', '_' or '-'"
        )
    if value.lower().startswith(TRUSTED_PREFIX):
        raise InvalidName(
            f"role name {value!r} may not start with {TRUSTED_PREFIX!r}: that prefix marks "
            "trusted versions in the signing flow"
        )
    return value


def check_delegated_role_name(value: str) -> str:
    """The name of a role delegated by targets: :func:`check_role_name`, and not a
    top-level role's name in any letter case.

    Each delegated role is a metadata file ``<name>.json`` next to the top-level ones
    (https://theupdateframework.github.io/specification/latest/#metadata-files-for-targets-delegation),
    and a client persists every file under that name
    (https://theupdateframework.github.io/specification/latest/#update-targets, step 6).
    On a case-insensitive filesystem a delegated ``Root`` would be stored as the
    client's trusted ``root.json``.
    """
    check_role_name(value)
    if value.lower() in TOP_LEVEL_ROLES:
        raise InvalidName(
            f"delegated role name {value!r} clashes with a top-level role "
            f"({value.lower()!r}): a client stores each role as <name>.json, and on a "
            "case-insensitive filesystem both would be the same file"
        )
    return value


def file_extension(filename: str) -> str:
    """The package extension of an uploaded file name, as faynoSync's ``UploadToS3`` takes
    it: from the last dot on, case kept (``.deb``, ``.AppImage``, ``.gz`` for
    ``x.tar.gz``). A suffix with other characters than letters, digits, ``_`` and ``-``
    gives ``""`` (no extension), so no file name can shape a storage key."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    dot = name.rfind(".")
    suffix = name[dot:] if dot >= 0 else ""
    return suffix if EXTENSION_RE.fullmatch(suffix) else ""


def artifact_prefix(admin: str, app: str) -> str:
    """The prefix of every target path and artifact key of one repository
    (``tufsync.tenant_keys.artifact_prefix`` names it for a repository)."""
    return f"{app}-{admin}/"


def owner_of_path(path: str) -> tuple[str, str] | None:
    """(admin, app) of a target path built by :func:`target_path`, or None.

    Usernames have no ``-`` (:data:`USERNAME_RE`), so the admin is what follows
    the last ``-`` of the first segment."""
    head, slash, _rest = path.partition("/")
    app, dash, admin = head.rpartition("-")
    if not (slash and dash and USERNAME_RE.fullmatch(admin) and APP_NAME_RE.fullmatch(app)):
        return None
    return admin, app


def target_path(
    admin: str, app: str, version: str, channel: str, platform: str, arch: str, ext: str
) -> str:
    """Storage key and TUF target path of an artifact (they are identical).

    faynoSync's default layout (``BuildS3Key``, default case):
    ``<app>-<admin>/[<channel>/][<platform>/][<arch>/]<app>-<version><ext>``, where an
    empty channel, platform or arch segment is left out.
    """
    prefix = artifact_prefix(admin, app)
    segments = "".join(f"{s}/" for s in (channel, platform, arch) if s)
    return f"{prefix}{segments}{app}-{version}{ext}"


# The deepest target path has this many folders under the tenant prefix.
TARGET_MAX_SEGMENTS = 3


def target_patterns(admin: str, app: str) -> list[str]:
    """TUF path patterns covering every depth of the default layout (one per depth,
    because TUF's ``*`` never matches ``/``)."""
    prefix = artifact_prefix(admin, app)
    return [prefix + "/".join(["*"] * (depth + 1)) for depth in range(TARGET_MAX_SEGMENTS + 1)]


def is_safe_key(key: str) -> bool:
    """True when ``key`` is a relative, normalised object key with no escapes."""
    if not key or len(key) > 1024 or key.startswith("/") or "\\" in key or "\x00" in key:
        return False
    parts = key.split("/")
    return all(part not in ("", ".", "..") for part in parts)


_ARTIFACT_KEY_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}-[A-Za-z0-9_]{3,32}/"
    r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,31}/){0,3}[^/]+$"
)


def is_public_key(key: str) -> bool:
    """True for keys the public route may serve: metadata and artifact keys only."""
    if not is_safe_key(key):
        return False
    if key.startswith(METADATA_PREFIX + "/"):
        return True
    return bool(_ARTIFACT_KEY_RE.fullmatch(key))
