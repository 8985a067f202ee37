"""Drive ``wrk`` (Debian's C HTTP load generator) and read its summary.

The load comes from a separate C process, so the client's CPU never counts as the server's.
``scripts/ensure-bench-tools.sh`` installs wrk when it is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "wrk is not installed. Run `scripts/ensure-bench-tools.sh` from the repository root "
    "(it installs Debian's wrk package with apt-get and the `bench` extra with py-spy), "
    "or `apt-get install -y wrk`."
)

# Counts every answer whose status is not the expected one; done() prints the total.
STATUS_CHECK_LUA = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  wrong = 0
end
function response(status, headers, body)
  if status ~= EXPECTED_STATUS then wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("wrong") end
  io.write(string.format("WRONG_STATUS %d\\n", total))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    non_2xx: int
    socket_errors: int
    wrong_status: int | None
    output: str

    @property
    def errors(self) -> int:
        wrong = self.wrong_status if self.wrong_status is not None else self.non_2xx
        return wrong + self.socket_errors


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(INSTALL_HINT)
    return path


def _duration(value: str, unit: str) -> float:
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    return float(value) * scale


def parse(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rps is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    wrong = re.search(r"WRONG_STATUS (\d+)", output)
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_duration(done.group(2), done.group(3)),
        rps=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        wrong_status=int(wrong.group(1)) if wrong else None,
        output=output,
    )


def run(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    threads: int = 2,
) -> WrkResult:
    """Run wrk against ``url`` and return its summary (raises if wrk fails)."""
    command = [
        require_wrk(),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse(done.stdout)


def status_script(folder: Path, expected: int = 200, prefix: str = "") -> Path:
    """A wrk script that counts answers other than ``expected`` (``prefix`` adds Lua above)."""
    path = folder / f"status-{expected}-{abs(hash(prefix))}.lua"
    body = STATUS_CHECK_LUA.replace("EXPECTED_STATUS", str(expected))
    path.write_text(prefix + body)
    return path
