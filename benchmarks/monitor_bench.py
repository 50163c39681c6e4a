"""Monitor figures: scrape + store cost per replica, get_metrics over 24 h, alert detection latency.

Run: python benchmarks/monitor_bench.py [--skip-live]

1. One collector cycle (parse the balancer's exposition, measure N replica processes with psutil,
   append to the store) for N = 0, 1, 4, 16 real processes; the slope is the cost per replica.
2. ``compute`` of cpu_usage + memory_usage for a 10-replica deployment (20 raw series) over 24 h of
   10 s samples, from the chunked store, side by side with the same data as one SQL row per sample.
3. A live deployment scraped every second with a CPU alert (``for`` 3 s): seconds from the start of
   a CPU-bound load to the webhook, against the target ``duration_seconds + one scrape interval``.
Traffic goes to 127.0.0.1 only, bounded in count and time; homes are throwaway temp dirs.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_ms(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_scrape() -> None:
    from pepperpy.cloud.monitor import definitions as d
    from pepperpy.cloud.monitor.collector import ProcessMeter, parse_exposition
    from pepperpy.cloud.monitor.store import MetricStore
    from pepperpy.cloud.providers.local.loadbalancer import Metrics

    lb = Metrics("bench")
    for i in range(1000):
        lb.observe(200 if i % 10 else 500, 0.001 * (i % 50))
    from prometheus_client import generate_latest

    text = generate_latest(lb.registry).decode()
    print("1. collector cycle: parse the balancer's exposition + psutil per replica + store append")
    with tempfile.TemporaryDirectory() as tmp, MetricStore(Path(tmp) / "m.db") as store:
        results = {}
        for n in (0, 1, 4, 16):
            procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(n)]
            meter = ProcessMeter()
            try:
                for p in procs:
                    meter.measure(p.pid)  # prime psutil, as the first scrape does

                def cycle(procs: list[subprocess.Popen[bytes]] = procs, meter: ProcessMeter = meter) -> None:
                    now = time.time()
                    samples = parse_exposition(text, "bench", now)
                    for i, p in enumerate(procs):
                        cpu, rss = meter.measure(p.pid)
                        labels = {"deployment": "bench", "replica": str(i)}
                        samples.append((d.RAW_CPU, labels, now, cpu or 0.0))
                        samples.append((d.RAW_MEMORY, labels, now, rss or 0.0))
                    store.append(samples, counters=d.COUNTERS)

                results[n] = median_ms(cycle, 50)
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            print(f"   {n:>2} replicas: {results[n]:6.2f} ms a cycle")
        per_replica = (results[16] - results[0]) / 16
        print(f"   per replica: {per_replica:.3f} ms; a 16-replica cycle is {results[16] / 10000 * 100:.3f}% "
              f"of the default 10 s scrape interval")


def bench_query() -> None:
    from pepperpy.cloud.monitor import definitions as d
    from pepperpy.cloud.monitor.query import compute
    from pepperpy.cloud.monitor.store import MetricStore

    now = time.time()
    start = now - 86400
    ts = np.arange(start, now, 10.0)
    print(f"2. get_metrics over 24 h of 10 s samples, 20 series ({ts.size} samples each)")
    with tempfile.TemporaryDirectory() as tmp, MetricStore(Path(tmp) / "m.db") as store:
        rows = []
        for replica in range(10):
            labels = {"deployment": "bench", "replica": str(replica)}
            cpu = 20 + 10 * np.sin(ts / 600 + replica)
            mem = 100e6 + replica * 1e6 + np.zeros_like(ts)
            store.append([(d.RAW_CPU, labels, t, v) for t, v in zip(ts, cpu, strict=True)])
            store.append([(d.RAW_MEMORY, labels, t, v) for t, v in zip(ts, mem, strict=True)])
            rows.extend((d.RAW_CPU, replica, t, v) for t, v in zip(ts, cpu, strict=True))
            rows.extend((d.RAW_MEMORY, replica, t, v) for t, v in zip(ts, mem, strict=True))
        store.compact(now)

        def chunked() -> None:
            for m in ("cpu_usage", "memory_usage"):
                compute(store, "bench", m, start, now, resolution=0)

        naive = sqlite3.connect(Path(tmp) / "naive.db")
        naive.execute("CREATE TABLE s (name TEXT, replica INT, ts REAL, value REAL, PRIMARY KEY (name, replica, ts))"
                      " WITHOUT ROWID")
        naive.executemany("INSERT INTO s VALUES (?, ?, ?, ?)", rows)
        naive.commit()

        def row_per_sample() -> None:
            for name in (d.RAW_CPU, d.RAW_MEMORY):
                got = naive.execute("SELECT replica, ts, value FROM s WHERE name = ? AND ts BETWEEN ? AND ?",
                                    (name, start, now)).fetchall()
                arr = np.array(got)
                np.unique(arr[:, 1], return_inverse=True)

        fast = median_ms(chunked, 15)
        slow = median_ms(row_per_sample, 5)
        print(f"   chunked store: {fast:.1f} ms (target < 50 ms); one SQL row per sample: {slow:.1f} ms; "
              f"ratio {slow / fast:.1f}x")


APP = '''
import time
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/burn":
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
'''


def bench_alert(rounds: int = 3, duration: float = 3.0, interval: float = 1.0) -> None:
    import httpx
    from tests.conftest import Hooks

    home = Path(tempfile.mkdtemp(prefix="pepperpy-monbench-"))
    os.environ["PEPPERPY_CLOUD_HOME"] = str(home)
    os.environ["PEPPERPY_SCRAPE_INTERVAL"] = str(interval)
    app = home / "app"
    app.mkdir()
    (app / "app.py").write_text(APP)
    (app / "requirements.txt").write_text("uvicorn\n")
    (app / "pepperpy.yaml").write_text("name: alertbench\nservices:\n  web:\n    source: .\n    entry_point: app.py\n"
                                       "    replicas: {min: 1, max: 1}\n")
    from pepperpy.cloud import CloudMonitor
    from pepperpy.cloud.providers.local.runtime import LocalRuntime
    from pepperpy.cloud.providers.local.supervisor import Supervisor
    from pepperpy.cloud.spec.stack import Stack

    hooks = Hooks()
    runtime = LocalRuntime()
    url = runtime.deploy(Stack.from_file(app / "pepperpy.yaml"), stack_dir=app)[0].url
    print(f"3. alert detection: cpu_usage > 50 for {duration:g} s, scrape every {interval:g} s, webhook receiver")
    latencies = []
    try:
        monitor = CloudMonitor()
        monitor.create_alert(name="bench-cpu", description="", metric="cpu_usage", resource="alertbench",
                             threshold=50, duration_seconds=duration, notification_channels=[f"webhook:{hooks.url}"])
        for _ in range(rounds):
            time.sleep(4 * interval)  # idle: the alert resolves
            seen = len([b for b in hooks.bodies if b["status"] == "firing"])
            stop = threading.Event()

            def burn(stop: threading.Event = stop) -> None:
                with httpx.Client(base_url=url, timeout=10) as client:
                    while not stop.is_set():
                        client.get("/burn")

            workers = [threading.Thread(target=burn) for _ in range(3)]
            began = time.time()
            for w in workers:
                w.start()
            deadline = began + 30
            while time.time() < deadline and len([b for b in hooks.bodies if b["status"] == "firing"]) == seen:
                time.sleep(0.05)
            latencies.append(time.time() - began)
            stop.set()
            for w in workers:
                w.join()
            time.sleep(duration)
        target = duration + interval
        shown = ", ".join(f"{x:.2f}" for x in latencies)
        within = sum(x <= target for x in latencies)
        print(f"   load start -> webhook: {shown} s (median {statistics.median(latencies):.2f} s); "
              f"target duration + one interval = {target:.1f} s, met in {within} of {len(latencies)}")
    finally:
        runtime.down("alertbench")
        Supervisor(home).shutdown()
        hooks.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-live", action="store_true", help="skip the live alert benchmark")
    args = parser.parse_args()
    bench_scrape()
    bench_query()
    if not args.skip_live:
        bench_alert()


if __name__ == "__main__":
    main()
