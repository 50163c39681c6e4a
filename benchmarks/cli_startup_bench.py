"""CLI start-up time: `pepperpy-cloud --help` against a bare `python -c pass`, medians of 15."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def median_ms(cmd: list[str], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    bare = median_ms([sys.executable, "-c", "pass"])
    cli = median_ms([sys.executable, "-m", "pepperpy.cloud.cli.main", "--help"])
    est = median_ms([sys.executable, "-m", "pepperpy.cloud.cli.main", "estimate",
                     "examples/stacks/bsc-rag.yaml", "--provider", "all", "--json"], 7)
    print(f"python -c pass: {bare:.0f} ms; pepperpy-cloud --help: {cli:.0f} ms "
          f"({cli / bare:.1f}x); estimate --provider all: {est:.0f} ms")
