"""Load balancer overhead: throughput and p99 through the balancer vs directly to one replica.

Same replica app (a minimal ASGI endpoint under uvicorn), same load generator, same
concurrency; the load runs in its own process (``wrk`` when on PATH, else an asyncio
keep-alive client in a subprocess) so that it does not share an interpreter with
what it measures. Everything is on 127.0.0.1 and bounded by ``--duration``.

Each balancer upstream client is measured (``h11``, the default, and ``httpx``,
kept for comparison), so the choice between them stays a measured one.

Two load levels: saturated (``--concurrency`` connections, default 32, for
throughput and tail latency under load) and one request at a time (the latency
a hop adds when nothing queues).

Run: python benchmarks/lb_bench.py [--duration 10] [--concurrency 32] [--upstreams h11,httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PYTHON = sys.executable
BODY = b'{"answer": "ok", "passages": [], "took_ms": 0}'


# --------------------------------------------------------------------------- the replica


async def replica_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def serve_replica(port: int) -> None:
    import uvicorn

    uvicorn.run(replica_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --------------------------------------------------------------------------- the fallback load generator


def python_load(url: str, duration: float, concurrency: int) -> None:
    """Keep-alive GET loop on raw asyncio + h11; prints one JSON line of results."""
    from urllib.parse import urlsplit

    import h11

    parts = urlsplit(url)
    host, port, target = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    latencies: list[float] = []
    errors = 0

    async def worker(deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target=target, headers=[("host", f"{host}:{port}")])
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            latencies.append(time.perf_counter() - start)
            errors += status != 200
            conn.start_next_cycle()
        writer.close()

    async def main() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))

    asyncio.run(main())
    latencies.sort()
    print(json.dumps({
        "rps": len(latencies) / duration,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
        "requests": len(latencies),
    }))


# --------------------------------------------------------------------------- harness


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=0.5, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not up after {timeout} s")


def wait_eligible(lb_url: str, timeout: float = 10.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{lb_url}/_pepperpy/status", trust_env=False).json()["ready_backends"] >= 1:
            return
        time.sleep(0.05)
    raise TimeoutError("balancer never admitted the replica")


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        raise ValueError(value)
    return float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m[2]]


def run_load(url: str, duration: float, concurrency: int, tool: str) -> dict[str, Any]:
    if tool == "wrk":
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--latency", url],
                             capture_output=True, text=True, timeout=duration + 30, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        errors = (int(non2xx[1]) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
        total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
        return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors, "requests": total}
    out = subprocess.run([PYTHON, str(HERE), "--load", url, "--duration", str(duration),
                          "--concurrency", str(concurrency)], capture_output=True, text=True,
                         timeout=duration + 30, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench(duration: float, concurrency: int, upstreams: list[str], tool: str) -> list[tuple[str, dict[str, Any]]]:
    procs: list[subprocess.Popen[bytes]] = []
    results: list[tuple[str, dict[str, Any]]] = []
    folder = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    try:
        replica_port = free_port()
        replica = subprocess.Popen([PYTHON, str(HERE), "--serve-replica", str(replica_port)])
        procs.append(replica)
        replica_url = f"http://127.0.0.1:{replica_port}"
        wait_up(replica_url + "/", replica)
        targets = [("direct to replica", replica_url + "/")]
        for upstream in upstreams:
            config = folder / f"lb-{upstream}.json"
            config.write_text(json.dumps({
                "deployment": "bench", "readiness_path": "/", "health_path": "/", "check_interval": 1.0,
                "backends": [{"id": "r1-0", "url": replica_url, "revision": 1, "state": "active"}]}))
            port = free_port()
            lb = subprocess.Popen([PYTHON, "-m", "pepperpy.cloud.providers.local.loadbalancer",
                                   "--config", str(config), "--port", str(port), "--upstream", upstream,
                                   "--log-level", "warning"])
            procs.append(lb)
            lb_url = f"http://127.0.0.1:{port}"
            wait_up(f"{lb_url}/_pepperpy/health", lb)
            wait_eligible(lb_url)
            targets.append((f"through LB ({upstream})", lb_url + "/"))
        for level, conc, secs in (("saturated", concurrency, duration), ("one at a time", 1, duration / 2)):
            print(f"{level}: {conc} connection(s), {secs:g} s per target", flush=True)
            for name, url in targets:
                run_load(url, 1.0, conc, tool)  # warm up: connections, caches, pools
                result = run_load(url, secs, conc, tool)
                results.append((f"{name} [{level}]", result))
                print(f"  {name:22s} {result['rps']:9.0f} req/s   p50 {result['p50_ms']:7.2f} ms   "
                      f"p99 {result['p99_ms']:7.2f} ms   errors {result['errors']} of {result['requests']}",
                      flush=True)
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(folder, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per target (max 60)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--upstreams", default="h11,httpx")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--serve-replica", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_replica:
        serve_replica(args.serve_replica)
        return
    duration = min(max(args.duration, 1.0), 60.0)
    if args.load:
        python_load(args.load, duration, args.concurrency)
        return
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "python")
    print(f"load: {tool} (keep-alive), {os.cpu_count()} CPUs shared by load generator, balancer and replica")
    results = bench(duration, args.concurrency, [u for u in args.upstreams.split(",") if u], tool)
    print("ratios (through LB / direct, same load):")
    direct: dict[str, Any] = {}
    for name, r in results:
        if name.startswith("direct"):
            direct = r
            continue
        print(f"  {name}: throughput {r['rps'] / direct['rps']:.2f}x, p99 {r['p99_ms'] / direct['p99_ms']:.2f}x, "
              f"p50 +{r['p50_ms'] - direct['p50_ms']:.2f} ms")


if __name__ == "__main__":
    main()
