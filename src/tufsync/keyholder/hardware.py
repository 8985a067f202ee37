"""Key holders' keys outside files: a PKCS#11 token (HSM, YubiKey) or a KMS key.

A key holder names a key by a file path, by ``--hsm`` (the token's key, read
through securesystemslib's HSMSigner), or by a signer URI (``hsm:2?label=…``,
``awskms:<key id>``). The public key is read from the token or the key service
itself, so what the ceremony lists in root is what the hardware signs with.
The token's PIN comes from ``TUFSYNC_HSM_PIN`` or a prompt, and is never stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib import parse

from securesystemslib.exceptions import UnsupportedLibraryError
from securesystemslib.signer import HSMSigner, Signer, SSlibKey

from tufsync.keyholder.keyfiles import load_signer
from tufsync.tuf.keys import URI_FIELD

PinSource = Callable[[str], str]
HSM_DEFAULT_KEYID = HSMSigner.SCHEME_KEYID
KEYHOLDER_URI_SCHEMES = ("hsm", "awskms")


class HardwareKeyError(Exception):
    """A token or key service could not provide the key; the message says why."""


@dataclass(frozen=True)
class HsmKey:
    uri: str
    public: SSlibKey


def hsm_uri(hsm_keyid: int = HSM_DEFAULT_KEYID, token_label: str | None = None) -> str:
    uri = f"hsm:{hsm_keyid}"
    return f"{uri}?{parse.urlencode({'label': token_label})}" if token_label else uri


def explain(exc: Exception) -> HardwareKeyError:
    """A sentence for a token's (or its library's) failure."""
    while type(exc).__name__ == "UnsignedMetadataError" and isinstance(exc.__cause__, Exception):
        exc = exc.__cause__  # python-tuf's Metadata.sign wraps the signer's error
    if isinstance(exc, UnsupportedLibraryError):
        return HardwareKeyError(
            f"the PKCS#11 support is not installed: pip install 'tufsync[hsm]' ({exc})"
        )
    text = str(exc) or type(exc).__name__
    if "PYKCS11LIB" in text:
        return HardwareKeyError(
            "set PYKCS11LIB to your token's PKCS#11 module, e.g. "
            "/usr/lib/x86_64-linux-gnu/libykcs11.so or /usr/lib/softhsm/libsofthsm2.so"
        )
    name = type(exc).__name__
    if name == "PinIncorrect":
        return HardwareKeyError("the token refused the PIN (PIN incorrect)")
    if name == "PinLocked":
        return HardwareKeyError("the token's PIN is locked")
    return HardwareKeyError(f"the token could not provide the key: {name}: {text}")


def import_hsm(
    hsm_keyid: int = HSM_DEFAULT_KEYID, token_label: str | None = None, pin: PinSource | None = None
) -> HsmKey:
    """Read the public key of ``hsm_keyid`` from the (only, or labelled) token."""
    if not os.environ.get("PYKCS11LIB"):
        raise explain(ValueError("PYKCS11LIB"))
    try:
        uri, public = HSMSigner.import_(hsm_keyid, token_label, pin)
    except Exception as exc:
        raise explain(exc) from exc
    parsed = parse.urlparse(uri)
    label = dict(parse.parse_qsl(parsed.query)).get("label")
    return HsmKey(hsm_uri(hsm_keyid, label), public)


def uri_signer(uri: str, pin: PinSource | None = None) -> Signer:
    """A signer for a key holder's signer URI (``hsm:…`` or ``awskms:…``)."""
    scheme, _, rest = uri.partition(":")
    if scheme == "hsm":
        parsed = parse.urlparse(uri)
        keyid = int(parsed.path) if parsed.path else HSM_DEFAULT_KEYID
        label = dict(parse.parse_qsl(parsed.query)).get("label")
        key = import_hsm(keyid, label, pin)
        handler = pin or (lambda _: "")
        return HSMSigner.from_priv_key_uri(key.uri, key.public, handler)
    if scheme == "awskms":
        try:
            from securesystemslib.signer import AWSSigner

            found_uri, public = AWSSigner.import_(rest)
            return Signer.from_priv_key_uri(found_uri, public)
        except Exception as exc:
            raise HardwareKeyError(f"the AWS KMS key {rest!r} cannot be used: {exc}") from exc
    raise HardwareKeyError(
        f"signer URI scheme {scheme!r} is not supported for key holders; use a key file, "
        f"or one of {', '.join(s + ':' for s in KEYHOLDER_URI_SCHEMES)}"
    )


def is_signer_uri(spec: str) -> bool:
    return spec.partition(":")[0] in KEYHOLDER_URI_SCHEMES and not Path(spec).exists()


def keyholder_signer(spec: str, pin: PinSource | None = None) -> Signer:
    """The signer named by a key file path or a signer URI."""
    if is_signer_uri(spec):
        return uri_signer(spec, pin)
    return load_signer(Path(spec))


def online_key_from_uri(uri: str) -> SSlibKey:
    """The public key of an online key in a key service, carrying its URI for the server.

    The key service is asked for the key (``awskms:<key id>``, ``gcpkms:<key version>``);
    the server signs through the same URI once the operator allows it.
    """
    scheme, _, rest = uri.partition(":")
    try:
        if scheme == "awskms":
            from securesystemslib.signer import AWSSigner

            _, public = AWSSigner.import_(rest)
        elif scheme == "gcpkms":
            from securesystemslib.signer import GCPSigner

            _, public = GCPSigner.import_(rest)
        else:
            raise HardwareKeyError(
                f"--online-key-uri takes awskms: or gcpkms: URIs, not {scheme!r}; for other "
                f"key services put the public key in root with {URI_FIELD!r} yourself"
            )
    except HardwareKeyError:
        raise
    except UnsupportedLibraryError as exc:
        raise HardwareKeyError(
            f"reading a {scheme} key needs an optional extra: pip install 'tufsync[{scheme}]'"
        ) from exc
    except Exception as exc:
        raise HardwareKeyError(f"the {scheme} key {rest!r} cannot be read: {exc}") from exc
    public.unrecognized_fields[URI_FIELD] = uri
    return public
