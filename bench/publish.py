"""Publish latency (request → SUCCESS) at 0, 1,000 and 10,000 existing targets.

Run: python -m bench.publish [--runs 15]
Prints median and p95 latency for a one-artifact version and the bytes of
each metadata file, for each repository size. Embedded mode, one server.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.support import Api, run_server, unique_name

from bench.harness import bootstrap_app, metadata_sizes, seed_targets, summary_ms, time_publish

SIZES = (0, 1_000, 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp) / "server") as server:
        api = Api(server, unique_name("bench"))
        print(f"publish latency, embedded mode, {args.runs} runs per size")
        for size in args.sizes:
            app = f"bench{size}"
            bootstrap_app(api, app)
            seed_targets(api, app, size)
            # One warm-up publish so caches are in their steady state.
            time_publish(api, app, "warm", b"warm-up")
            latencies = [
                time_publish(api, app, f"1.{run}", f"payload {run}".encode())
                for run in range(args.runs)
            ]
            print(f"{size:>7} targets: {summary_ms(latencies)}")
            sizes = metadata_sizes(server.public_dir, api.username, app)
            print("                 bytes: " + ", ".join(f"{r} {b:,}" for r, b in sizes.items()))


if __name__ == "__main__":
    main()
