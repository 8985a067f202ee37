"""Private key files (PKCS8 PEM) and their public TUF keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from securesystemslib.signer import CryptoSigner, SSlibKey

KEY_TYPES = ("ed25519", "ecdsa", "rsa")


def generate_private_key(key_type: str) -> PrivateKeyTypes:
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")


def private_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, key: PrivateKeyTypes) -> None:
    """Write ``key`` as PKCS8 PEM readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem(key))


def public_key_of(key: PrivateKeyTypes) -> SSlibKey:
    return SSlibKey.from_crypto(key.public_key())  # type: ignore[arg-type]


def load_private(path: Path) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def load_signer(path: Path) -> CryptoSigner:
    private = load_private(path)
    return CryptoSigner(private, public_key_of(private))


def new_key_file(key_type: str, out_dir: Path) -> tuple[Path, SSlibKey]:
    """Create ``<out_dir>/<keyid>.pem`` and ``<keyid>.pub.json``; return path and public key."""
    private = generate_private_key(key_type)
    public = public_key_of(private)
    path = out_dir / f"{public.keyid}.pem"
    write_private(path, private)
    (out_dir / f"{public.keyid}.pub.json").write_text(json.dumps(public.to_dict(), indent=2))
    return path, public


def load_public(path: Path) -> SSlibKey:
    """Read a public key file written by :func:`new_key_file`."""
    data = json.loads(path.read_text())
    keyid = path.name.removesuffix(".pub.json")
    return SSlibKey.from_dict(keyid, data)
