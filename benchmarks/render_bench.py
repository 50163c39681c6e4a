"""Time to render every target for the example stacks (target < 300 ms), medians of 20 in-process runs.

Run: python benchmarks/render_bench.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from pepperpy.cloud.render import TARGETS, render
from pepperpy.cloud.spec.stack import Stack

STACKS = Path(__file__).parents[1] / "examples" / "stacks"

if __name__ == "__main__":
    for name in ("bsc-rag", "kv-store"):
        stack = Stack.from_file(STACKS / f"{name}.yaml")
        render(stack)  # warm imports
        runs = []
        for _ in range(20):
            start = time.perf_counter()
            files = render(stack, "all")
            runs.append((time.perf_counter() - start) * 1000)
        print(f"{name}: render --target all ({len(TARGETS)} targets, {len(files)} files): "
              f"{statistics.median(runs):.1f} ms median (min {min(runs):.1f}, max {max(runs):.1f})")
        for target in TARGETS:
            t = [0.0] * 10
            for i in range(10):
                start = time.perf_counter()
                render(stack, target)
                t[i] = (time.perf_counter() - start) * 1000
            print(f"  {target:16s} {statistics.median(t):7.2f} ms")
