"""Offline-signed releases: staging a publish into a role the server cannot sign, and
publishing its draft when the holders' last signature arrives.

Run: python -m bench.offline [--runs 15] [--sizes 0 1000]
For each size prints the median and p95 of (1) publish request -> task SUCCESS with
``size`` artifacts already waiting in the role's release draft (the artifact joins
it) and (2) the holder's signature request -> finalize task SUCCESS (published) for
a draft adding one artifact to a role that lists ``size`` or more. Embedded mode,
one server, a threshold-1 offline role.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tests.support import Api, offline_role, run_server, sign_pending, unique_name

from bench.harness import seed_targets, summary_ms, time_publish


def _time_signing(api: Api, app: str, holder: CryptoSigner) -> float:
    """Seconds from the signature post to the finalize task's SUCCESS (published)."""
    start = time.perf_counter()
    answer = sign_pending(api, app, "default", holder)
    if answer.status_code != 200:
        raise RuntimeError(f"signature refused: {answer.text}")
    task = api.wait_task(answer.json()["data"]["task_id"])
    if task["state"] != "SUCCESS":
        raise RuntimeError(f"finalize failed: {task}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="*", default=[0, 1_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "server") as server:
        api = Api(server, unique_name("bench"))
        print(f"offline release, embedded mode, {args.runs} runs per draft size")
        for size in args.sizes:
            app = f"off{size}"
            holder = CryptoSigner.generate_ed25519()
            api.bootstrap_ok(offline_role(api, app, [holder], 1).payload)
            seed_targets(api, app, size)  # staged: they wait in the release draft
            stage = [
                time_publish(api, app, f"1.{run}", f"payload {run}".encode())
                for run in range(args.runs)
            ]
            print(f"{size:>6} in draft: publish -> staged   {summary_ms(stage)}")
            _time_signing(api, app, holder)  # publishes the seeded artifacts
            signing = []
            for run in range(args.runs):
                time_publish(api, app, f"2.{run}", f"next {run}".encode())
                signing.append(_time_signing(api, app, holder))
            print(f"{size:>6} in draft: signature -> published {summary_ms(signing)}")


if __name__ == "__main__":
    main()
