"""Options and helpers shared by the commands that sign with a key file, a token or a KMS."""

from __future__ import annotations

import os

import typer
from securesystemslib.signer import Signer

from tufsync.cli.output import fail
from tufsync.keyholder.hardware import (
    HSM_DEFAULT_KEYID,
    HardwareKeyError,
    PinSource,
    hsm_uri,
    keyholder_signer,
)

KEY_HELP = "Private key file, or a signer URI (hsm:2?label=..., awskms:<key id>)."
HSM_HELP = "Sign with the key on the PKCS#11 token (PYKCS11LIB names its module)."
HSM_KEYID = typer.Option(HSM_DEFAULT_KEYID, "--hsm-keyid", help="Key id on the token (2: PIV 9c).")
TOKEN_LABEL = typer.Option(None, "--token-label", help="Label of the token to use.")


def pin_source() -> PinSource:
    """The token's PIN from ``TUFSYNC_HSM_PIN``, else asked once (hidden)."""
    cache: list[str] = []

    def pin(_: str) -> str:
        if not cache:
            cache.append(
                os.environ.get("TUFSYNC_HSM_PIN")
                or typer.prompt("PIN of the token", hide_input=True, err=True)
            )
        return cache[0]

    return pin


def signers_for(
    specs: list[str], hsm: bool, hsm_keyid: int, token_label: str | None
) -> list[Signer]:
    """Signers for key files / signer URIs, plus the token's key with ``--hsm``."""
    pin = pin_source()
    names = list(specs) + ([hsm_uri(hsm_keyid, token_label)] if hsm else [])
    signers = []
    for name in names:
        try:
            signers.append(keyholder_signer(name, pin))
        except HardwareKeyError as exc:
            fail(str(exc))
        except (OSError, ValueError, TypeError) as exc:
            fail(f"cannot use key {name!r}: {exc}")
    return signers
