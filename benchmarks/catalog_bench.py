"""Catalog load and cheapest-fit query times, and the same query answered by SkyPilot.

Run: python benchmarks/catalog_bench.py [--skip-skypilot]

Prints medians of repeated runs measured side by side in one process (and, for
SkyPilot, in a separate virtualenv the script creates under a temporary dir, with
HOME pointed at a temporary folder holding the generated vms.csv so SkyPilot
reads it offline). The synthetic 10k/100k/1M-row catalogs replicate the bundled
real rows into numbered pseudo-regions: they exist only to measure speed and are
never used as prices.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from pepperpy.cloud.catalog.query import InstanceQuery, InstanceTable
from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.store import Catalog

QUERY = InstanceQuery(vcpus=8, memory_gib=32, providers=["gcp"])
SKY_QUERY = "8+", "32+"


def median_ms(fn, repeat: int = 50) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def load_time() -> float:
    code = ("import time; t=time.perf_counter(); from pepperpy.cloud.catalog.store import Catalog; "
            "Catalog.bundled().instances; print((time.perf_counter()-t)*1000)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(7)]
    return statistics.median(runs)


def synthetic(rows: list[PriceRow], n: int) -> list[PriceRow]:
    out: list[PriceRow] = []
    copy = 0
    while len(out) < n:
        out.extend(replace(r, region=f"{r.region}-bench{copy}") for r in rows[: n - len(out)])
        copy += 1
    return out


def write_sky_csv(rows: list[PriceRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["InstanceType", "vCPUs", "MemoryGiB", "AcceleratorName", "AcceleratorCount",
                    "GpuInfo", "Region", "AvailabilityZone", "Price", "SpotPrice"])
        for r in rows:
            if r.pricing_model == "on_demand" and not r.gpu_model:
                w.writerow([r.sku, r.vcpus, r.memory_gib, "", "", "", r.region, f"{r.region}-a",
                            r.price, ""])


SKY_SCRIPT = r"""
import json, statistics, sys, time
from sky.catalog import gcp_catalog
cpus, mem = sys.argv[1], sys.argv[2]
gcp_catalog.get_default_instance_type(cpus=cpus, memory=mem)  # warm: loads the CSV
times = []
for _ in range(20):
    t = time.perf_counter()
    answer = gcp_catalog.get_default_instance_type(cpus=cpus, memory=mem)
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"ms": statistics.median(times), "answer": answer}))
"""


def skypilot_ms(rows: list[PriceRow], workdir: Path) -> dict[str, object] | str:
    venv = workdir / "sky-venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "skypilot==0.14.1"], check=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"SkyPilot could not be installed: {exc}"
    home = workdir / "home"
    write_sky_csv(rows, home / ".sky" / "catalogs" / "v8" / "gcp" / "vms.csv")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", SKY_SCRIPT, *SKY_QUERY],
                         capture_output=True, text=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
                         timeout=600, check=False)
    if out.returncode != 0:
        return "SkyPilot query failed: " + out.stderr.strip().splitlines()[-1]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-skypilot", action="store_true")
    args = parser.parse_args()
    base = [r for r in Catalog.bundled().rows if r.service == "compute"]
    print(f"bundled catalog load (new process, incl. imports): {load_time():.1f} ms median of 7")
    print(f"{'rows':>10} {'build s':>8} {'cheapest-fit ms':>16} {'search(10) ms':>14}")
    tables = {}
    for n in (10_000, 100_000, 1_000_000):
        rows = synthetic(base, n)
        t = time.perf_counter()
        table = InstanceTable.from_rows(rows)
        build = time.perf_counter() - t
        tables[n] = (rows, table)
        print(f"{n:>10,} {build:>8.2f} {median_ms(lambda table=table: table.cheapest(QUERY)):>16.3f} "
              f"{median_ms(lambda table=table: table.search(QUERY, 10)):>14.3f}")
    if args.skip_skypilot:
        return
    rows, table = tables[100_000]
    ours = median_ms(lambda: table.cheapest(QUERY), 20)
    with tempfile.TemporaryDirectory() as tmp:
        sky = skypilot_ms(rows, Path(tmp))
    if isinstance(sky, str):
        print(sky)
        return
    print(f"same query, GCP rows of the 100k catalog: PepperPy {ours:.3f} ms, SkyPilot "
          f"{sky['ms']:.3f} ms -> SkyPilot/PepperPy = {float(sky['ms']) / ours:.1f}x "  # type: ignore[arg-type]
          f"(answers: {table.cheapest(QUERY).sku} / {sky['answer']})")  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
