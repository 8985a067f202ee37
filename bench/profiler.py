"""``py-spy record`` on server processes while a benchmark row runs (``--profile DIR``).

One py-spy per server process, 250 samples/s, idle samples off (py-spy's default), child
processes included (``--subprocesses``), one output file per process and measured phase:
``<DIR>/<phase>.speedscope.json`` (open at https://www.speedscope.app, one profile per thread)
or ``<DIR>/<phase>.svg`` (a flame graph; ``--profile-format flamegraph``).
py-spy runs ``--nonblocking`` (it reads the stacks without stopping the process: a blocking
py-spy tripled the CPU per artifact of row 1); still, compare CPU figures of unprofiled runs.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

RATE = 250
SUFFIX = {"speedscope": ".speedscope.json", "flamegraph": ".svg", "raw": ".txt"}


def require_py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit(
            "py-spy is not installed: run `scripts/ensure-bench-tools.sh` "
            "(or `.venv/bin/pip install -e '.[bench]'`)."
        )
    return found


class Recording:
    """One ``py-spy record`` process attached to ``pid``, stopped with SIGINT."""

    def __init__(self, pid: int, output: Path, fmt: str) -> None:
        self.output = output
        command = [
            require_py_spy(),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--subprocesses",
            "--nonblocking",
            "--format",
            fmt,
            "--output",
            str(output),
        ]
        if fmt == "flamegraph":
            command.append("--threads")
        self.lines: list[str] = []
        self.sampling = threading.Event()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.sampling.wait(15):
            print(f"  profile: py-spy did not start sampling pid {pid}: {self.tail()}")

    def _read(self) -> None:
        assert self.process.stdout is not None  # py-spy reports on stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if "Sampling process" in line:
                self.sampling.set()

    def tail(self) -> str:
        return " | ".join(self.lines[-5:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(5)
        if self.output.exists() and self.output.stat().st_size > 0:
            samples = next((line for line in self.lines if "Samples:" in line), "")
            print(f"  profile: {self.output} (samples: {samples.partition('Samples:')[2].strip()})")
        else:
            print(f"  profile: py-spy wrote nothing to {self.output}: {self.tail()}")


@contextmanager
def profiled(
    folder: Path | None, phase: str, pids: dict[str, int], fmt: str = "speedscope"
) -> Iterator[None]:
    """Record each named process in ``pids`` while the block runs (nothing if no folder)."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for name, pid in pids.items():
            stem = phase if len(pids) == 1 else f"{phase}-{name}"
            recording = Recording(pid, folder / f"{stem}{SUFFIX[fmt]}", fmt)
            stack.callback(recording.stop)
        time.sleep(0.2)
        yield
