"""moto's KMS server on 127.0.0.1, taught the DIGEST message type of Sign.

AWS KMS signs a caller's digest as is when ``MessageType=DIGEST``, which is what
securesystemslib's AWSSigner sends. moto 5.2.5 reads the parameter and ignores
it, hashing the digest a second time, so no external verifier accepts its
signatures (getmoto/moto#10202 adds the mode; not released yet). While the
server runs, a DIGEST request to an ECDSA key is signed as prehashed; every
other check (key state, usage, algorithm) is still moto's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto.kms import responses as kms_responses
from moto.kms import utils as kms_utils
from moto.server import ThreadedMotoServer

from tests.support import free_port

_digest_request: ContextVar[bool] = ContextVar("kms_digest_request", default=False)


@contextmanager
def digest_mode() -> Iterator[None]:
    original_sign = kms_responses.KmsResponse.sign
    original_key_sign = kms_utils.ECDSAPrivateKey.sign

    def response_sign(self: kms_responses.KmsResponse) -> str:
        token = _digest_request.set(self._get_param("MessageType") == "DIGEST")
        try:
            return original_sign(self)
        finally:
            _digest_request.reset(token)

    def key_sign(self: kms_utils.ECDSAPrivateKey, message: bytes, algorithm: str) -> bytes:
        if not _digest_request.get():
            return original_key_sign(self, message, algorithm)
        kms_utils.validate_signing_algorithm(algorithm, self.valid_signing_algorithms)
        hashed = self._ECDSAPrivateKey__hash_algorithm(algorithm)  # type: ignore[attr-defined]
        return bytes(self.private_key.sign(message, ec.ECDSA(utils.Prehashed(hashed))))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kms_responses.KmsResponse, "sign", response_sign)
        patch.setattr(kms_utils.ECDSAPrivateKey, "sign", key_sign)
        yield


@contextmanager
def kms_server() -> Iterator[str]:
    """The URL of a moto server (KMS with DIGEST signing) on a free loopback port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with digest_mode():
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()
