"""A real PKCS#11 token for tests: SoftHSM2 initialised in a temporary folder.

The token lives under the test's own SOFTHSM2_CONF; its EC P-256 key pair is made
on the token (the private key never leaves it) by python-pkcs11 in a subprocess,
so the test process never binds the PKCS#11 module to one configuration.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PIN, SO_PIN = "123456", "87654321"

_KEYGEN = """
import os, sys, pkcs11
from pkcs11 import Attribute, KeyType
from pkcs11.util.ec import encode_named_curve_parameters
token = pkcs11.lib(os.environ["PYKCS11LIB"]).get_token(token_label=sys.argv[1])
with token.open(rw=True, user_pin=sys.argv[2]) as session:
    for keyid in sys.argv[3:]:
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        params.generate_keypair(store=True, id=bytes([int(keyid)]), label=f"key{keyid}")
"""


def softhsm_module() -> str:
    for pattern in (
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/*/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise RuntimeError("SoftHSM2 is not installed: run scripts/ensure-test-tools.sh")


@dataclass(frozen=True)
class SoftHsm:
    label: str
    env: dict[str, str]

    def with_pin(self, pin: str = PIN) -> dict[str, str]:
        return {**self.env, "TUFSYNC_HSM_PIN": pin}


def make_token(
    folder: Path, label: str = "tufsync-test", key_ids: tuple[int, ...] = (2,)
) -> SoftHsm:
    """Initialise a token ``label`` in ``folder`` holding EC keys with ``key_ids``."""
    tokens = folder / "tokens"
    tokens.mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {"SOFTHSM2_CONF": str(conf), "PYKCS11LIB": softhsm_module()}
    full = {**os.environ, **env}
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ],
        env=full,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-c", _KEYGEN, label, PIN, *(str(k) for k in key_ids)],
        env=full,
        check=True,
        capture_output=True,
    )
    return SoftHsm(label, env)
