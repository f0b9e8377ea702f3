"""How long `python -m bot --help` and `python -m bot slots list --help` take (wall clock, the
median of 15 runs each, a fresh interpreter every time).

    .venv/bin/python -m bench.cli
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15
COMMANDS = (["--help"], ["slots", "list", "--help"], ["claims", "approve", "--help"])


def main() -> None:
    """Print each command's median and slowest time."""
    for argv in COMMANDS:
        times = []
        for _ in range(RUNS):
            began = time.perf_counter()
            subprocess.run(  # noqa: S603 - this interpreter, our own command
                [sys.executable, "-m", "bot", *argv], capture_output=True, check=True
            )
            times.append(time.perf_counter() - began)
        shown = " ".join(argv)
        print(
            f"python -m bot {shown:<28} median {statistics.median(times) * 1000:6.1f} ms"
            f"   slowest {max(times) * 1000:6.1f} ms"
        )


if __name__ == "__main__":
    main()
