"""Load test of the HTTP service: req/s, p95 and errors for /v1/estimate and /v1/ask.

Starts ``pepperpy-cloud serve`` (uvicorn, 2 workers, 127.0.0.1, a throwaway PEPPERPY_CLOUD_HOME and key) and
drives each route for ~10 s with wrk (a separate process; ``apt-get install -y wrk``) and a Lua script that
POSTs a fixed body and prints p50/p95/p99 in ``done()``. Targets from issue 7: >= 1,000 req/s, p95 < 50 ms,
0 errors. The bodies repeat, so this measures the cached path (LRU hit) that repeated questions take; pass
``--unique`` to vary the body per request with a counter (every request a cache miss for /v1/ask questions).

    .venv/bin/python benchmarks/service_bench.py [--redis redis://127.0.0.1:6379/0] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%(key)s"
local body = [==[%(body)s]==]
local unique = %(unique)s
local counter = 0
request = function()
  if unique then
    counter = counter + 1
    return wrk.format(nil, nil, nil, (body:gsub("__N__", tostring(counter) .. "-" .. tostring(math.random(1e9)))))
  end
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_ms": %%.3f, "p95_ms": %%.3f, "p99_ms": %%.3f, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

ROUTES = {
    "/v1/estimate": {"provider": "gcp", "resources": [
        {"type": "compute", "instance_type": "e2-standard-2", "count": 3},
        {"type": "storage", "size_gb": 100}, {"type": "database", "instance_type": "db-standard-1", "size_gb": 50}]},
    "/v1/ask": {"question": "What is the cheapest instance with 8 vCPUs and 32 GB of memory? __N__"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, port: int, workers: int, redis_url: str | None, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PEPPERPY_CLOUD_HOME": str(home), "ENVIRONMENT": "testing", "LOG_LEVEL": "info",
           "RATE_LIMIT_PER_KEY": "1000000", "RATE_LIMIT_PER_KEY_BURST": "1000000",
           "RATE_LIMIT_GLOBAL": "1000000", "RATE_LIMIT_GLOBAL_BURST": "1000000"}
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["REDIS_PREFIX"] = f"pepperpy:bench:{os.getpid()}:"
    cmd = [sys.executable, "-m", "pepperpy.cloud.cli.serve", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready")


def _run_wrk(base: str, route: str, key: str, seconds: int, connections: int, unique: bool, tmp: Path) -> dict:
    body = json.dumps(ROUTES[route]) if unique else json.dumps(ROUTES[route]).replace(" __N__", "")
    script = tmp / f"{route.strip('/').replace('/', '_')}.lua"
    script.write_text(LUA % {"key": key, "body": body, "unique": "true" if unique else "false"})
    for _ in range(200):  # warm both workers' caches and the catalog
        httpx.post(base + route, json=json.loads(body.replace("__N__", "warm")), headers={"X-API-Key": key}, timeout=30)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base + route],
                         capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("RESULT "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis", default=None, help="REDIS_URL for the service (default: in-process only)")
    parser.add_argument("--unique", action="store_true", help="vary the /v1/ask question per request")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="pepperpy-bench-"))
    os.environ["PEPPERPY_CLOUD_HOME"] = str(tmp / "home")
    from pepperpy.cloud.service.auth import KeyStore

    _, key = KeyStore().create("bench")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(tmp / "home", port, args.workers, args.redis, tmp / "service.log")
    try:
        _wait_ready(base)
        routes = ["/v1/estimate"]
        try:
            import pepperpy.cloud.agent  # noqa: F401

            routes.append("/v1/ask")
        except ImportError:
            print("pepperpy.cloud.agent is not importable: /v1/ask skipped")
        print(f"service: {args.workers} uvicorn workers on {base}, {'Redis ' + args.redis if args.redis else 'in-process'}"
              f" limits and cache; wrk -t2 -c{args.connections} -d{args.seconds}s on the same {os.cpu_count()}-core machine")
        print(f"{'route':<14} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}  target")
        for route in routes:
            r = _run_wrk(base, route, key, args.seconds, args.connections, args.unique and route == "/v1/ask", tmp)
            ok = r["rps"] >= 1000 and r["p95_ms"] < 50 and r["errors"] == 0
            print(f"{route:<14} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{r['errors']:>7}  {'met' if ok else 'MISSED'} (>=1000 req/s, p95<50 ms, 0 errors)")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
