"""Key rules and the online key folder of each tenant.

Online private keys are loaded only from ``<key dir>/<admin>/<app>/<keyid>``
(or ``<keyid>.pem``): PKCS8 PEM (ed25519, ECDSA P-256/P-384, RSA) or a raw
32-byte ed25519 seed. A key that exists only in another tenant's folder is
"not available online". Keys are read when needed, so a key written while the
server runs is picked up. Key files are opened without following symbolic links
below the key folder, so no link leads to another tenant's key. Every signer
handed out is a :class:`TenantSigner`, which refuses to sign targets-type
metadata listing paths outside the tenant's ``<app>-<admin>/``.

A key that cannot be loaded says why: not in the folder, not a private key,
another key than the one in root, a signer URI the operator does not bind to
the tenant, an optional extra that is not installed (``tufsync[awskms]``,
``[gcpkms]``, ``[azurekms]``, ``[vault]``, ``[hsm]``), a key type its signer
cannot use, or (when probed) a key service that refuses to sign.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib.exceptions import (
    FormatError,
    UnsupportedAlgorithmError,
    UnsupportedLibraryError,
    UnverifiedSignatureError,
)
from securesystemslib.signer import CryptoSigner, Key, SecretsHandler, Signature, Signer, SSlibKey

from tufsync import tenant_keys
from tufsync.names import InvalidName, is_safe_key
from tufsync.signer_uris import SignerUriPolicy
from tufsync.tuf.canonical import canonical_json
from tufsync.tuf.errors import OnlineKeyUnavailable, TufInputError

SUPPORTED_KEY_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("ed25519", "ed25519"),
        ("ecdsa", "ecdsa-sha2-nistp256"),
        ("ecdsa", "ecdsa-sha2-nistp384"),
        ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
        ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
        ("rsa", "rsassa-pss-sha256"),
    }
)


def key_problem(keyid: str, key: Key) -> str | None:
    """Why ``key`` is unacceptable under ``keyid``, or None when it is fine."""
    if (key.keytype, key.scheme) not in SUPPORTED_KEY_TYPES:
        return (
            f"key {keyid} has unsupported type {key.keytype}/{key.scheme}; supported: "
            "ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, rsassa-pss-sha256"
        )
    if not isinstance(key.keyval.get("public"), str):
        return f"key {keyid} has no public key value"
    if public_material(key) is None:
        return f"key {keyid} has a public key value that is not a valid {key.keytype} key"
    try:
        expected = default_keyid(key)
    except FormatError:
        return f"key {keyid} holds a value that canonical JSON cannot encode (a fractional number)"
    if keyid != expected:
        return f"keyid {keyid} does not match its key material (expected {expected})"
    return None


def default_keyid(key: Key) -> str:
    """The keyid TUF derives from a key: the hex SHA-256 of the canonical JSON of its
    ``keytype``, ``scheme`` and ``keyval`` (TUF specification §4.2, KEYID)."""
    material = {"keytype": key.keytype, "scheme": key.scheme, "keyval": key.keyval}
    return hashlib.sha256(canonical_json(material)).hexdigest()


def public_material(key: Key) -> bytes | None:
    """The public key itself (DER SubjectPublicKeyInfo), however ``key`` spells it:
    the same material under another keytype/scheme name or with extra ``keyval``
    fields gives the same bytes. None when the value is not a readable key."""
    public = key.keyval.get("public")
    if not isinstance(public, str):
        return None
    try:
        loaded: PublicKeyTypes
        if key.keytype == "ed25519":
            loaded = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
        else:
            loaded = load_pem_public_key(public.encode("utf-8"))
        return loaded.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def same_key_twice(keys: Mapping[str, Key]) -> tuple[str, str] | None:
    """Two keyids of ``keys`` naming one public key (so it would count twice), or None."""
    seen: dict[bytes, str] = {}
    for keyid, key in keys.items():
        material = public_material(key)
        if material is None:
            continue
        if material in seen:
            return seen[material], keyid
        seen[material] = keyid
    return None


class ForeignTargets(TufInputError):
    """Targets-type metadata lists a path outside the tenant's prefix; not signed."""


def foreign_target_paths(payload: bytes, prefix: str) -> list[str]:
    """Target paths outside ``prefix`` listed by the metadata whose canonical ``signed``
    bytes are ``payload`` (none for snapshot and timestamp)."""
    try:
        signed = json.loads(payload, strict=False)  # canonical JSON keeps control chars raw
    except ValueError:
        raise ForeignTargets("the server signs only TUF metadata") from None
    if not isinstance(signed, dict):
        raise ForeignTargets("the server signs only TUF metadata")
    if signed.get("_type") != "targets":
        return []
    targets = signed.get("targets") or {}
    return [p for p in targets if not (p.startswith(prefix) and is_safe_key(p))]


class TenantSigner(Signer):
    """An online signer bound to one tenant. It refuses to sign targets or delegated
    metadata listing a target path outside ``<app>-<admin>/`` (docs/api.md §5.1: the server
    only ever signs that tenant's own artifacts). Every online signature goes through
    here, whichever flow asks for it."""

    def __init__(self, signer: Signer, admin: str, app: str) -> None:
        self._signer = signer
        self.prefix = tenant_keys.artifact_prefix(tenant_keys.TenantRef(admin, app))

    @property
    def public_key(self) -> Key:
        return self._signer.public_key

    @classmethod
    def from_priv_key_uri(
        cls, priv_key_uri: str, public_key: Key, secrets_handler: SecretsHandler | None = None
    ) -> Signer:
        """Refused: a tenant signer is made by :meth:`OnlineKeyStore.try_load`, which
        binds it to its tenant; a URI alone names no tenant."""
        del priv_key_uri, public_key, secrets_handler  # the signature is securesystemslib's
        raise ValueError("tenant signers are loaded by OnlineKeyStore.try_load, not from a URI")

    def sign(self, payload: bytes) -> Signature:
        foreign = foreign_target_paths(payload, self.prefix)
        if foreign:
            shown = ", ".join(repr(p) for p in sorted(foreign)[:3])
            raise ForeignTargets(
                f"the server does not sign metadata listing target paths outside "
                f"{self.prefix!r} ({len(foreign)} such path(s), e.g. {shown}): a repository "
                "only lists its own artifacts"
            )
        return self._signer.sign(payload)


URI_FIELD = "x-tufsync-online-uri"
MAX_KEY_FILE_BYTES = 64 * 1024
# The optional extra of tufsync that installs each signer URI scheme's library.
EXTRA_FOR_SCHEME = {
    "awskms": "awskms",
    "gcpkms": "gcpkms",
    "azurekms": "azurekms",
    "hv": "vault",
    "hsm": "hsm",
}
# What a probe signs: fixed bytes that are not JSON, so never mistaken for metadata.
PROBE = b"tufsync: can this key sign?"


def sign_error_reason(exc: BaseException) -> str:
    """Why a signer failed to sign, in words (permission denied named as such)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore's ClientError
        error = response.get("Error") or {}
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))[:400]
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        denied = ("AccessDenied", "Unauthorized", "Forbidden")
        if status == 403 or code == "403" or any(word in code for word in denied):
            return f"permission denied by the key service ({code}: {message})"
        return f"the key service refused to sign ({code}: {message})"
    if isinstance(exc, PermissionError) or "permission" in str(exc).lower():
        return f"permission denied: {exc}"
    return f"{type(exc).__name__}: {exc}"


def uri_load_reason(scheme: str, key: Key, exc: Exception) -> str:
    """Why securesystemslib could not set up the signer of a URI."""
    if isinstance(exc, UnsupportedLibraryError):
        extra = EXTRA_FOR_SCHEME.get(scheme, scheme)
        return (
            f"signing through {scheme}: needs an optional extra that is not installed "
            f"(pip install 'tufsync[{extra}]'): {exc}"
        )
    if isinstance(exc, KeyError | UnsupportedAlgorithmError):
        return f"wrong key type: the {scheme} signer cannot sign with a {key.scheme} key"
    if isinstance(exc, ValueError) and "Unsupported private key scheme" in str(exc):
        return f"unknown signer URI scheme {scheme!r}"
    return f"its {scheme} signer could not be set up: {sign_error_reason(exc)}"


def read_without_links(root: Path, folders: Sequence[str], names: Sequence[str]) -> bytes | None:
    """The first of ``names`` found in ``root/<folders...>/``, read without following a
    symbolic link anywhere below ``root`` (each step is opened with O_NOFOLLOW relative
    to the one before, so no link and no race leads out of the tenant's folder). Only a
    regular file of at most MAX_KEY_FILE_BYTES is read; None when there is none."""
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    opened: list[int] = []
    try:
        opened.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY))
        for folder in folders:
            opened.append(os.open(folder, nofollow | os.O_DIRECTORY, dir_fd=opened[-1]))
        for name in names:
            try:
                fd = os.open(name, nofollow | os.O_NONBLOCK, dir_fd=opened[-1])
            except OSError:
                continue  # absent, or a link (ELOOP): not this tenant's file
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_FILE_BYTES:
                    return None
                return handle.read(MAX_KEY_FILE_BYTES + 1)[:MAX_KEY_FILE_BYTES]
        return None
    except OSError:
        return None  # a folder is missing or is a link
    finally:
        for fd in opened:
            os.close(fd)


class OnlineKeyStore:
    """Loads online signers from the per-tenant key folders, or from signer URIs
    (``x-tufsync-online-uri`` on a key) that the operator binds to the tenant
    (see :mod:`tufsync.signer_uris`)."""

    def __init__(self, root: Path, uri_prefixes: Mapping[str, Sequence[str]] | None = None) -> None:
        self.root = root
        self.uri_policy = SignerUriPolicy(uri_prefixes)

    def uri_allowed(self, admin: str, app: str, uri: str) -> bool:
        return self.uri_policy.allows(admin, app, uri)

    def tenant_dir(self, admin: str, app: str) -> Path:
        return tenant_keys.key_folder(self.root, tenant_keys.TenantRef(admin, app))

    def _read_key_file(self, admin: str, app: str, keyid: str) -> bytes | None:
        if not is_safe_key(f"{admin}/{app}/{keyid}") or "/" in keyid:
            return None
        try:
            parts = tenant_keys.key_folder_parts(tenant_keys.TenantRef(admin, app))
        except InvalidName:
            return None
        return read_without_links(self.root, parts, [keyid, f"{keyid}.pem"])

    def try_load(self, admin: str, app: str, key: Key) -> TenantSigner:
        """The signer for ``key`` (bound to this tenant); raise
        :class:`OnlineKeyUnavailable` saying why there is none."""
        return TenantSigner(self._load(admin, app, key), admin, app)

    def load_signer(self, admin: str, app: str, key: Key) -> TenantSigner | None:
        """The signer for ``key`` (bound to this tenant), or None if not available."""
        try:
            return self.try_load(admin, app, key)
        except OnlineKeyUnavailable:
            return None

    def _load(self, admin: str, app: str, key: Key) -> Signer:
        if not isinstance(key, SSlibKey):
            raise OnlineKeyUnavailable(f"the server cannot sign with a {type(key).__name__}")
        if URI_FIELD in key.unrecognized_fields:
            return self._uri_signer(admin, app, key.unrecognized_fields[URI_FIELD], key)
        return self._file_signer(admin, app, key)

    def _uri_signer(self, admin: str, app: str, uri: object, key: SSlibKey) -> Signer:
        if not isinstance(uri, str):
            raise OnlineKeyUnavailable(f"{URI_FIELD} must be a string")
        scheme = uri.partition(":")[0]
        if not self.uri_allowed(admin, app, uri):
            raise OnlineKeyUnavailable(
                f"its signer URI ({scheme}:...) is not allowed for {admin}/{app} by the "
                "operator (TUFSYNC_SIGNER_URI_PREFIXES)"
            )
        try:
            return Signer.from_priv_key_uri(uri, key)
        except Exception as exc:
            raise OnlineKeyUnavailable(uri_load_reason(scheme, key, exc)) from exc

    def _file_signer(self, admin: str, app: str, key: SSlibKey) -> Signer:
        where = f"the online key folder {admin}/{app}/"
        data = self._read_key_file(admin, app, key.keyid)
        if data is None:
            raise OnlineKeyUnavailable(
                f"not in {where} (as <keyid> or <keyid>.pem, a regular file of at most "
                f"{MAX_KEY_FILE_BYTES} bytes; links are not followed)"
            )
        try:
            if len(data) == 32:
                private = Ed25519PrivateKey.from_private_bytes(data)
            else:
                private = load_pem_private_key(data, password=None)  # type: ignore[assignment]
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise OnlineKeyUnavailable(
                f"its file in {where} is not an unencrypted PKCS8 PEM private key "
                "or a 32-byte ed25519 seed"
            ) from None
        try:
            public = SSlibKey.from_crypto(private.public_key())  # type: ignore[arg-type]
            if public_material(public) != public_material(key):
                raise OnlineKeyUnavailable(
                    f"its file in {where} holds another key than {key.keyid}"
                )
            return CryptoSigner(private, key)  # type: ignore[arg-type]
        except (ValueError, TypeError, UnsupportedAlgorithmError):
            raise OnlineKeyUnavailable(
                f"wrong key type: its file in {where} cannot sign as a {key.scheme} key"
            ) from None

    def problems(
        self, admin: str, app: str, keys: dict[str, Key], probe: bool = False
    ) -> dict[str, str]:
        """Why each unusable key among ``keys`` cannot be used (keyid -> reason).

        With ``probe`` every loaded signer also signs :data:`PROBE`, which must
        verify, so a key service refusing to sign (permission denied) or holding
        another key is named before anything depends on it.
        """
        out: dict[str, str] = {}
        for keyid, key in keys.items():
            try:
                signer = self._load(admin, app, key)
            except OnlineKeyUnavailable as exc:
                out[keyid] = str(exc)
                continue
            if probe:
                try:
                    key.verify_signature(signer.sign(PROBE), PROBE)
                except UnverifiedSignatureError:
                    out[keyid] = "its signer holds another key than the public key given"
                except Exception as exc:
                    out[keyid] = sign_error_reason(exc)
        return out

    def unavailable(self, admin: str, app: str, keys: dict[str, Key]) -> list[str]:
        """Keyids among ``keys`` whose private key the server cannot load."""
        return list(self.problems(admin, app, keys))
