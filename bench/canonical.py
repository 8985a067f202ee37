"""Signing a large role: the server's canonical JSON path against python-tuf's defaults.

Run: python -m bench.canonical [--runs 9]
For a snapshot listing 16,384 hash bins and a targets role of 10,000 targets,
prints the best time of ``--runs`` for the canonical bytes alone, and for the
whole signing of one role (canonical bytes, one ed25519 signature, the
threshold check, the file bytes) three ways: (1) as the server does,
:func:`tufsync.tuf.signing.sign_and_verify` over :mod:`tufsync.tuf.canonical`;
(2) the same with securesystemslib's ``encode_canonical`` in place of
:func:`~tufsync.tuf.canonical.canonical_json`; (3) python-tuf's defaults
(``Metadata.sign``, ``Metadata.signed_bytes`` for the check,
``Metadata.to_bytes`` for the file). All three give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets
from tuf.api.serialization.json import CanonicalJSONSerializer, JSONSerializer

from tufsync.tuf import canonical
from tufsync.tuf.canonical import signed_bytes
from tufsync.tuf.keys import TenantSigner
from tufsync.tuf.signing import sign_and_verify


def best_ms(work: Callable[[], Any], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def snapshot_of_bins(bins: int, expires: datetime) -> Metadata[Snapshot]:
    meta = {f"bin-{i:04x}.json": MetaFile(version=i % 7 + 1) for i in range(bins)}
    meta["targets.json"] = MetaFile(version=1)
    return Metadata(Snapshot(expires=expires, meta=meta))


def targets_of(count: int, expires: datetime) -> Metadata[Targets]:
    targets = {}
    for i in range(count):
        path = f"app-bench/app/default/linux/amd64/app-{i}.deb"
        digest = hashlib.sha256(path.encode()).hexdigest()
        targets[path] = TargetFile(1_000_000 + i, {"sha256": digest}, path)
    return Metadata(Targets(expires=expires, targets=targets))


def slow_canonical_json(value: Any) -> bytes:
    return str(encode_canonical(value)).encode("utf-8")


def python_tuf_sign(md: Metadata[Any], signer: TenantSigner, root: Root, role: str) -> bytes:
    md.sign(signer)
    root.verify_delegate(role, md.signed_bytes, md.signatures)
    return md.to_bytes(JSONSerializer(compact=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    signer = CryptoSigner.generate_ed25519()
    root = Root(expires=expires)
    for role in ("snapshot", "targets"):
        root.add_key(signer.public_key, role)
    tenant_signer = TenantSigner(signer, "bench", "app")
    cases = [
        ("snapshot, 16,384 hash bins", "snapshot", snapshot_of_bins(16_384, expires)),
        ("targets, 10,000 targets", "targets", targets_of(10_000, expires)),
    ]
    reference = CanonicalJSONSerializer()
    print(f"best of {args.runs} runs, one ed25519 key")
    for label, role, md in cases:
        ours = sign_and_verify(md, role, [tenant_signer], root)
        theirs = python_tuf_sign(md, tenant_signer, root, role)
        assert ours == theirs and signed_bytes(md.signed) == reference.serialize(md.signed)
        print(f"{label} ({len(ours):,} bytes)")
        serial_ours = best_ms(lambda md=md: signed_bytes(md.signed), args.runs)
        serial_theirs = best_ms(lambda md=md: reference.serialize(md.signed), args.runs)
        print(
            f"  canonical bytes    tufsync {serial_ours:7.1f} ms  python-tuf {serial_theirs:7.1f}"
        )
        sign_ours = best_ms(
            lambda md=md, role=role: sign_and_verify(md, role, [tenant_signer], root), args.runs
        )
        fast = canonical.canonical_json
        canonical.canonical_json = slow_canonical_json
        try:
            assert sign_and_verify(md, role, [tenant_signer], root) == ours
            sign_slow = best_ms(
                lambda md=md, role=role: sign_and_verify(md, role, [tenant_signer], root),
                args.runs,
            )
        finally:
            canonical.canonical_json = fast
        sign_theirs = best_ms(
            lambda md=md, role=role: python_tuf_sign(md, tenant_signer, root, role), args.runs
        )
        print(
            f"  sign, check, file  tufsync {sign_ours:7.1f} ms  with encode_canonical "
            f"{sign_slow:7.1f} ms  python-tuf defaults {sign_theirs:7.1f} ms"
        )


if __name__ == "__main__":
    main()
