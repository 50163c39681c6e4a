"""The local load balancer against real processes: replicas and the balancer each run
under uvicorn on free 127.0.0.1 ports, and everything is killed at teardown.

This file is also the replica: ``python test_loadbalancer.py --port N --id ID --mode
MODE`` serves a small ASGI app whose readiness and health can be flipped through
``POST /_ctl?ready=0&healthy=1`` so that tests drive real probes, not mocks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

HERE = Path(__file__).resolve()
PYTHON = sys.executable
CHECK_INTERVAL = 0.2
EJECT_AFTER = 3


# --------------------------------------------------------------------------- the replica app


def make_replica(replica_id: str, mode: str) -> Callable[..., Any]:
    """A replica: ``normal``, ``slow`` (+0.3 s per request), ``unhealthy`` (health 500) or ``flip``."""
    defaults = {"ready": True, "healthy": mode != "unhealthy"}
    state: dict[str, Any] = {**defaults, "served": 0, "in_flight": 0}
    delay = 0.3 if mode == "slow" else 0.0

    async def respond(send: Any, status: int, body: bytes, ctype: bytes = b"application/json") -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                                (b"x-backend-id", replica_id.encode())]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if path == "/ready":
            await respond(send, 200 if state["ready"] else 503, b"{}")
            return
        if path == "/health":
            await respond(send, 200 if state["healthy"] else 500, b"{}")
            return
        if path == "/_ctl":
            if "reset" in query:
                state.update(defaults)
                state["served"] = 0
            for key in ("ready", "healthy"):
                if key in query:
                    state[key] = query[key] == "1"
            await respond(send, 200, json.dumps(state).encode())
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        state["served"] += 1
        state["in_flight"] += 1
        try:
            if delay:
                await asyncio.sleep(delay)
            if path == "/sleep":
                await asyncio.sleep(float(query.get("s", "0.5")))
            if path.startswith("/status/"):
                await respond(send, int(path.rsplit("/", 1)[1]), b"{}")
            elif path == "/stream":
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/plain"), (b"x-backend-id", replica_id.encode())]})
                gone = asyncio.ensure_future(receive())  # resolves with http.disconnect if the reader leaves
                for i in range(int(query.get("n", "3"))):
                    if gone.done():
                        break
                    await send({"type": "http.response.body", "body": f"chunk{i}\n".encode(), "more_body": True})
                    await asyncio.sleep(float(query.get("gap", "0.3")))
                gone.cancel()
                await send({"type": "http.response.body", "body": b""})
            elif path == "/echo":
                headers = {k.decode(): v.decode() for k, v in scope["headers"]}
                payload = {"method": scope["method"], "headers": headers, "body_len": len(body),
                           "body_head": body[:16].decode(errors="replace")}
                await respond(send, 200, json.dumps(payload).encode())
            else:
                await respond(send, 200, json.dumps({"backend": replica_id, "path": path}).encode())
        finally:
            state["in_flight"] -= 1

    return app


def serve_replica(argv: list[str]) -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--mode", default="normal")
    args = parser.parse_args(argv)
    uvicorn.run(make_replica(args.id, args.mode), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    serve_replica(sys.argv[1:])
    sys.exit(0)


# --------------------------------------------------------------------------- process fixtures

import httpx  # noqa: E402  (the replica above must not need test-only imports)
import psutil  # noqa: E402
import pytest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=0.5, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not up after {timeout} s: {log.read_text()[-2000:]}")


def stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM them all, then wait; SIGKILL whatever is still up after 3 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)


@dataclass
class Replica:
    id: str
    mode: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ctl(self, **flags: str) -> dict[str, Any]:
        return dict(httpx.post(f"{self.url}/_ctl", params=flags, timeout=2, trust_env=False).json())


def start_replicas(folder: Path, specs: list[tuple[str, str]]) -> dict[str, Replica]:
    replicas: dict[str, Replica] = {}
    try:
        for rid, mode in specs:
            port = free_port()
            log = folder / f"replica-{rid}.log"
            proc = subprocess.Popen([PYTHON, str(HERE), "--port", str(port), "--id", rid, "--mode", mode],
                                    stdout=log.open("wb"), stderr=subprocess.STDOUT)
            replicas[rid] = Replica(rid, mode, port, proc, log)
        for r in replicas.values():
            wait_http(f"{r.url}/_ctl", r.proc, r.log)
    except BaseException:
        stop(*(r.proc for r in replicas.values()))
        raise
    return replicas


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Replica]]:
    folder = tmp_path_factory.mktemp("replicas")
    started = start_replicas(folder, [("n1", "normal"), ("n2", "normal"), ("n3", "normal"),
                                      ("slow", "slow"), ("sick", "unhealthy"), ("flip", "flip")])
    yield started
    stop(*(r.proc for r in started.values()))


@pytest.fixture(autouse=True)
def _reset_replicas(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "replicas" in request.fixturenames:
        for r in request.getfixturevalue("replicas").values():
            if r.proc.poll() is None:
                r.ctl(reset="1")


@dataclass
class LB:
    """A running balancer process and the config file that drives it."""

    config_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    base: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, backends: list[tuple[Replica, str]] | list[dict[str, Any]], **extra: Any) -> None:
        """Replace the config atomically (temp file + rename), as the supervisor does."""
        items = [b if isinstance(b, dict) else {"id": b[0].id, "url": b[0].url, "revision": 1, "state": b[1]}
                 for b in backends]
        doc = {**self.base, **extra, "backends": items}
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.config_path)

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_pepperpy/status", timeout=2, trust_env=False).json())

    def backend(self, bid: str) -> dict[str, Any] | None:
        return next((b for b in self.status()["backends"] if b["id"] == bid), None)

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout} s; status: {json.dumps(status, indent=1)}")
            time.sleep(0.05)

    def wait_eligible(self, *ids: str, timeout: float = 5.0) -> dict[str, Any]:
        def ok(status: dict[str, Any]) -> bool:
            eligible = {b["id"] for b in status["backends"] if b["eligible"]}
            return eligible == set(ids)
        return self.wait(ok, timeout)


@pytest.fixture
def start_lb(tmp_path: Path) -> Iterator[Callable[..., LB]]:
    procs: list[LB] = []

    def start(backends: list[tuple[Replica, str]] | None = None, *, upstream: str = "h11", **extra: Any) -> LB:
        lb = LB(tmp_path / f"lb-{len(procs)}.json", free_port(),
                base={"deployment": "demo", "readiness_path": "/ready", "health_path": "/health",
                      "check_interval": CHECK_INTERVAL, "eject_after": EJECT_AFTER})
        lb.write(backends or [], **extra)
        lb.log = tmp_path / f"lb-{len(procs)}.log"
        lb.proc = subprocess.Popen(
            [PYTHON, "-m", "pepperpy.cloud.providers.local.loadbalancer", "--config", str(lb.config_path),
             "--port", str(lb.port), "--upstream", upstream],
            stdout=lb.log.open("wb"), stderr=subprocess.STDOUT)
        procs.append(lb)
        wait_http(f"{lb.url}/_pepperpy/health", lb.proc, lb.log)
        return lb

    yield start
    stop(*(lb.proc for lb in procs if lb.proc is not None))
    for lb in procs:  # the balancer never let an exception escape to uvicorn
        assert lb.log is not None
        text = lb.log.read_text()
        assert "Traceback" not in text, text[-3000:]


def get_many(url: str, paths: list[str], concurrency: int) -> list[httpx.Response | Exception]:
    """Send GETs with a bounded number in flight; return responses (or the error) in order."""
    async def run() -> list[httpx.Response | Exception]:
        sem = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits, trust_env=False) as client:
            async def one(path: str) -> httpx.Response | Exception:
                async with sem:
                    try:
                        return await client.get(path)
                    except httpx.HTTPError as exc:
                        return exc
            return list(await asyncio.gather(*(one(p) for p in paths)))
    return asyncio.run(run())


def served_by(responses: list[httpx.Response | Exception]) -> Counter[str]:
    return Counter(r.headers["x-backend-id"] for r in responses if isinstance(r, httpx.Response))


# --------------------------------------------------------------------------- tests


def test_least_connections_spreads_concurrent_slow_requests(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    n1, n2, n3 = replicas["n1"], replicas["n2"], replicas["n3"]
    lb = start_lb([(n1, "active"), (n2, "active"), (n3, "active")])
    lb.wait_eligible("n1", "n2", "n3")

    responses = get_many(lb.url, ["/sleep?s=0.6"] * 9, concurrency=9)
    assert all(isinstance(r, httpx.Response) and r.status_code == 200 for r in responses)
    assert served_by(responses) == {"n1": 3, "n2": 3, "n3": 3}

    # Two long requests occupy two replicas; quick requests meanwhile all go to the idle third.
    with httpx.Client(base_url=lb.url, timeout=10, trust_env=False) as client:
        busy: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: busy.append(client.get("/sleep?s=1.2"))) for _ in range(2)]
        for t in threads:
            t.start()
        lb.wait(lambda s: s["in_flight"] == 2)
        quick = [client.get("/").headers["x-backend-id"] for _ in range(8)]
        for t in threads:
            t.join()
    busy_ids = {r.headers["x-backend-id"] for r in busy}
    assert len(busy_ids) == 2
    idle_id = ({"n1", "n2", "n3"} - busy_ids).pop()
    assert quick == [idle_id] * 8


def test_slow_replica_gets_fewer_requests(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    lb = start_lb([(replicas["n1"], "active"), (replicas["slow"], "active")])
    lb.wait_eligible("n1", "slow")
    responses = get_many(lb.url, ["/"] * 60, concurrency=4)
    counts = served_by(responses)
    assert sum(counts.values()) == 60
    assert counts["n1"] > 3 * counts["slow"], counts


def test_only_ready_replicas_get_traffic(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    n1, flip = replicas["n1"], replicas["flip"]
    flip.ctl(ready="0")
    lb = start_lb([(n1, "active"), (flip, "active")])
    status = lb.wait_eligible("n1")
    assert next(b for b in status["backends"] if b["id"] == "flip")["ready"] is False
    assert set(served_by(get_many(lb.url, ["/"] * 20, concurrency=4))) == {"n1"}

    flip.ctl(ready="1")
    lb.wait_eligible("n1", "flip")
    assert set(served_by(get_many(lb.url, ["/"] * 20, concurrency=4))) == {"n1", "flip"}

    flip.ctl(ready="0")  # readiness lost: out of rotation on the next probe, without being ejected
    status = lb.wait_eligible("n1")
    assert next(b for b in status["backends"] if b["id"] == "flip")["ejected"] is False
    assert set(served_by(get_many(lb.url, ["/"] * 20, concurrency=4))) == {"n1"}


def test_health_failures_eject_and_recovery_readmits(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    n1, sick, flip = replicas["n1"], replicas["sick"], replicas["flip"]
    lb = start_lb([(n1, "active"), (sick, "active"), (flip, "active")])
    lb.wait_eligible("n1", "flip")
    # Ready but failing health: never admitted, whatever its readiness says.
    lb.wait(lambda s: next(b for b in s["backends"] if b["id"] == "sick")["health_failures"] >= EJECT_AFTER)
    assert set(served_by(get_many(lb.url, ["/"] * 30, concurrency=3))) == {"n1", "flip"}

    flip.ctl(healthy="0")
    started = time.monotonic()
    status = lb.wait(lambda s: next(b for b in s["backends"] if b["id"] == "flip")["ejected"])
    flip_status = next(b for b in status["backends"] if b["id"] == "flip")
    assert flip_status["health_failures"] >= EJECT_AFTER and not flip_status["eligible"]
    # Not before eject_after probes (one interval apart, the first may come at once).
    assert time.monotonic() - started >= (EJECT_AFTER - 1) * CHECK_INTERVAL * 0.8
    assert set(served_by(get_many(lb.url, ["/"] * 30, concurrency=3))) == {"n1"}
    metrics = httpx.get(f"{lb.url}/_pepperpy/metrics", trust_env=False).text
    assert 'pepperpy_backend_up{backend="flip",deployment="demo"} 0.0' in metrics

    flip.ctl(healthy="1")
    lb.wait_eligible("n1", "flip")
    assert lb.backend("flip")["ejected"] is False  # type: ignore[index]
    assert set(served_by(get_many(lb.url, ["/"] * 30, concurrency=3))) == {"n1", "flip"}


def test_draining_finishes_in_flight_and_gets_no_new_requests(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    n1, n2 = replicas["n1"], replicas["n2"]
    lb = start_lb([(n1, "active"), (n2, "active")])
    lb.wait_eligible("n1", "n2")

    slow: list[httpx.Response | Exception] = []
    worker = threading.Thread(target=lambda: slow.extend(get_many(lb.url, ["/sleep?s=1.5"] * 4, concurrency=4)))
    worker.start()
    lb.wait(lambda s: s["in_flight"] == 4)
    assert lb.backend("n1")["in_flight"] == 2  # type: ignore[index]

    lb.write([(n1, "draining"), (n2, "active")])
    status = lb.wait(lambda s: next(b for b in s["backends"] if b["id"] == "n1")["state"] == "draining")
    assert next(b for b in status["backends"] if b["id"] == "n1")["in_flight"] == 2
    n1_before = n1.ctl()["served"]
    quick = get_many(lb.url, ["/"] * 10, concurrency=2)
    assert set(served_by(quick)) == {"n2"}

    worker.join(timeout=10)
    assert len(slow) == 4 and all(isinstance(r, httpx.Response) and r.status_code == 200 for r in slow)
    assert served_by(slow) == {"n1": 2, "n2": 2}  # the drained replica finished its two
    assert n1.ctl()["served"] == n1_before  # and was sent nothing new
    assert lb.backend("n1")["in_flight"] == 0  # type: ignore[index]


def test_config_swap_under_load_drops_no_request(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    n1, n2, n3 = replicas["n1"], replicas["n2"], replicas["n3"]
    lb = start_lb([(n1, "active"), (n2, "active")])
    lb.wait_eligible("n1", "n2")
    results: list[tuple[int | str, str, bool]] = []  # (status or error, backend, sent after swap)
    swapped = threading.Event()
    max_requests, deadline = 3000, time.monotonic() + 20

    async def load() -> None:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        async with httpx.AsyncClient(base_url=lb.url, timeout=10, limits=limits, trust_env=False) as client:
            async def worker() -> None:
                # Bounded: stops after the swap once ≥ 300 requests were sent, or at the caps.
                while len(results) < max_requests and time.monotonic() < deadline:
                    if swapped.is_set() and len(results) >= 300 and sum(r[2] for r in results) >= 50:
                        return
                    after = swapped.is_set()
                    try:
                        r = await client.get("/sleep?s=0.01")
                        results.append((r.status_code, r.headers.get("x-backend-id", ""), after))
                    except httpx.HTTPError as exc:
                        results.append((repr(exc), "", after))
            await asyncio.gather(*(worker() for _ in range(8)))

    loader = threading.Thread(target=lambda: asyncio.run(load()))
    loader.start()
    while len(results) < 100:
        time.sleep(0.01)
    # A rollout as the supervisor does it: add the new revision, wait until ready,
    # drain the old one, wait until idle, remove it.
    new = {"id": "n3", "url": n3.url, "revision": 2, "state": "active"}
    old = [{"id": r.id, "url": r.url, "revision": 1, "state": "active"} for r in (n1, n2)]
    lb.write([*old, new])
    lb.wait_eligible("n1", "n2", "n3")
    lb.write([{**o, "state": "draining"} for o in old] + [new])
    lb.wait(lambda s: all(b["state"] == "draining" and b["in_flight"] == 0 for b in s["backends"] if b["id"] != "n3"))
    lb.write([new])
    lb.wait(lambda s: [b["id"] for b in s["backends"]] == ["n3"])
    swapped.set()
    loader.join(timeout=30)

    errors = [r for r in results if r[0] != 200]
    assert len(results) >= 300 and errors == [], errors[:5]
    assert {b for _, b, after in results if after} == {"n3"}
    assert {"n1", "n2", "n3"} <= {b for _, b, _ in results}


def test_no_ready_backend_answers_503_with_retry_after(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    lb = start_lb([])
    r = httpx.get(f"{lb.url}/anything", trust_env=False)
    assert r.status_code == 503
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "no_ready_backend" and r.json()["deployment"] == "demo"

    lb.write([], cold_start=True, cold_start_timeout=0.5)  # a cold start that never comes gives up
    lb.wait(lambda s: s["cold_start"])
    started = time.monotonic()
    r = httpx.get(f"{lb.url}/anything", trust_env=False)
    assert r.status_code == 503 and 0.5 <= time.monotonic() - started < 3

    flip = replicas["flip"]
    flip.ctl(ready="0")
    lb.write([(flip, "active")])
    lb.wait(lambda s: len(s["backends"]) == 1 and s["backends"][0]["last_check_at"] is not None)
    assert httpx.get(f"{lb.url}/", trust_env=False).status_code == 503
    flip.ctl(ready="1")
    lb.wait_eligible("flip")
    assert httpx.get(f"{lb.url}/", trust_env=False).status_code == 200


def test_cold_start_holds_the_request_until_a_backend_appears(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    waker = replicas["n2"]  # stands in for the supervisor's wake endpoint: counts the POST
    stz = {"idle_seconds": 60, "wake_url": f"{waker.url}/echo"}
    lb = start_lb([], cold_start=True, scale_to_zero=stz)
    assert lb.status()["last_request_at"] is None
    woken_before = waker.ctl()["served"]
    result: list[httpx.Response] = []
    started = time.monotonic()
    client = threading.Thread(target=lambda: result.append(httpx.get(f"{lb.url}/", timeout=35, trust_env=False)))
    client.start()
    time.sleep(0.8)
    assert not result  # still held
    assert waker.ctl()["served"] == woken_before + 1  # the supervisor was asked, once
    lb.write([(replicas["n1"], "active")], cold_start=True, scale_to_zero=stz)
    client.join(timeout=10)
    assert result and result[0].status_code == 200 and result[0].headers["x-backend-id"] == "n1"
    assert time.monotonic() - started >= 0.8
    status = lb.status()
    assert status["last_request_at"] is not None and status["seconds_since_last_request"] < 5


def test_metrics_and_status_count_requests(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    lb = start_lb([(replicas["n1"], "active")])
    lb.wait_eligible("n1")
    paths = ["/"] * 5 + ["/status/404"] * 2 + ["/status/503"]
    assert [r.status_code for r in get_many(lb.url, paths, 1) if isinstance(r, httpx.Response)] == [200] * 5 + [404, 404, 503]

    text = httpx.get(f"{lb.url}/_pepperpy/metrics", trust_env=False).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    def get(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"deployment": "demo", **labels}.items())))]
    assert get("pepperpy_requests_total", status_class="2xx") == 5
    assert get("pepperpy_requests_total", status_class="4xx") == 2
    assert get("pepperpy_requests_total", status_class="5xx") == 1
    assert get("pepperpy_response_time_seconds_count") == 8
    assert get("pepperpy_response_time_seconds_bucket", le="+Inf") == 8
    assert 0 < get("pepperpy_response_time_seconds_bucket", le="0.25") <= 8
    assert get("pepperpy_backend_up", backend="n1") == 1
    assert get("pepperpy_in_flight") == 0

    status = lb.status()
    assert status["total_requests"] == 8 and status["requests_last_60s"] == 8
    assert status["requests_per_second"] > 0
    assert 0 < status["latency_p95_seconds"] < 1
    assert status["last_request_at"] is not None
    assert httpx.get(f"{lb.url}/_pepperpy/health", trust_env=False).json()["status"] == "ok"


def test_streaming_headers_and_request_bodies_pass_through(replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    lb = start_lb([(replicas["n1"], "active")])
    lb.wait_eligible("n1")
    with httpx.Client(base_url=lb.url, timeout=10, trust_env=False) as client:
        started = time.monotonic()
        with client.stream("GET", "/stream?n=3&gap=0.4") as r:
            assert r.status_code == 200 and "content-length" not in r.headers
            chunks = []
            for chunk in r.iter_raw():
                chunks.append((time.monotonic() - started, chunk))
        body = b"".join(c for _, c in chunks)
        assert body == b"chunk0\nchunk1\nchunk2\n"
        assert chunks[0][0] < 0.4  # the first chunk arrived before the replica finished

        r = client.post("/echo", content=b"x" * 100_000,
                        headers={"Connection": "keep-alive, X-Secret", "X-Secret": "hop", "Keep-Alive": "timeout=5",
                                 "X-Forwarded-For": "10.1.2.3", "X-App": "kept"})
        echo = r.json()
        h = echo["headers"]
        assert echo["body_len"] == 100_000
        assert "x-secret" not in h and "keep-alive" not in h and h["x-app"] == "kept"
        assert h["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
        assert h["x-forwarded-proto"] == "http"
        assert h["x-forwarded-host"] == f"127.0.0.1:{lb.port}"

        def chunks_out() -> Iterator[bytes]:
            for i in range(5):
                yield f"part{i}-".encode() * 1000
        r = client.post("/echo", content=chunks_out())  # chunked upload, streamed to the replica
        assert r.json()["body_len"] == sum(len(f"part{i}-") * 1000 for i in range(5))
        assert r.json()["body_head"].startswith("part0-")

        r = client.head("/")
        assert r.status_code == 200 and r.content == b""

        r = client.get("/", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
        assert r.status_code == 501 and r.json()["error"] == "upgrade_not_supported"

        # A client that leaves an endless stream frees the replica too.
        with client.stream("GET", "/stream?n=200&gap=0.05") as r:
            raw = r.iter_raw()
            next(raw)
            assert lb.status()["in_flight"] == 1
        # Leaving the block closed the half-read response's connection.
    lb.wait(lambda s: s["in_flight"] == 0 and s["backends"][0]["in_flight"] == 0, timeout=3)
    deadline = time.monotonic() + 3  # and the replica saw its reader go: the upstream connection was closed
    while replicas["n1"].ctl()["in_flight"]:
        assert time.monotonic() < deadline, "the replica is still streaming to nobody"
        time.sleep(0.05)


def test_refused_connection_is_retried_on_another_backend(replicas: dict[str, Replica], start_lb: Callable[..., LB],
                                                          tmp_path: Path) -> None:
    victim = start_replicas(tmp_path, [("victim", "normal")])["victim"]
    try:
        # Probes every 5 s: the balancer learns of the death from the refused connection, not a probe.
        lb = start_lb([(replicas["n1"], "active"), (victim, "active")], check_interval=5.0)
        lb.wait_eligible("n1", "victim")
        assert set(served_by(get_many(lb.url, ["/sleep?s=0.05"] * 12, 4))) == {"n1", "victim"}
        assert lb.proc is not None
        balancer = psutil.Process(lb.proc.pid)

        def pooled_to_victim() -> int:
            return sum(1 for c in balancer.net_connections("tcp") if c.raddr and c.raddr.port == victim.port)

        assert pooled_to_victim() >= 1
        victim.proc.kill()
        victim.proc.wait(timeout=5)
        # Idle pooled connections to the dead replica are closed by the pool's
        # sweep, without waiting for a request to stumble on them.
        deadline = time.monotonic() + 3
        while pooled_to_victim():
            assert time.monotonic() < deadline, "connections to the dead replica stayed open"
            time.sleep(0.05)

        responses = get_many(lb.url, ["/"] * 10, 1)
        assert [r.status_code for r in responses if isinstance(r, httpx.Response)] == [200] * 10
        assert set(served_by(responses)) == {"n1"}
        status = lb.backend("victim")
        assert status is not None and not status["ready"] and status["failures"] >= 1
    finally:
        stop(victim.proc)


def test_bad_config_is_refused_at_start_and_ignored_on_reload(replicas: dict[str, Replica], start_lb: Callable[..., LB],
                                                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"deployment": "demo", "backends": [{"id": "a", "url": "ftp://x"}]}))
    out = subprocess.run([PYTHON, "-m", "pepperpy.cloud.providers.local.loadbalancer", "--config", str(bad),
                          "--port", "0"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 2
    assert "backends[0].url" in out.stderr and len(out.stderr.strip().splitlines()) == 1

    lb = start_lb([(replicas["n1"], "active")])
    lb.wait_eligible("n1")
    tmp = lb.config_path.with_suffix(".tmp")
    tmp.write_text("{not json")
    os.replace(tmp, lb.config_path)
    status = lb.wait(lambda s: s["config_error"] is not None)
    assert "not valid JSON" in status["config_error"]
    assert httpx.get(f"{lb.url}/", trust_env=False).status_code == 200  # still serving the last good config


@pytest.mark.parametrize("upstream", ["httpx"])
def test_httpx_upstream_variant_proxies_too(upstream: str, replicas: dict[str, Replica], start_lb: Callable[..., LB]) -> None:
    lb = start_lb([(replicas["n1"], "active"), (replicas["n2"], "active")], upstream=upstream)
    lb.wait_eligible("n1", "n2")
    responses = get_many(lb.url, ["/sleep?s=0.3"] * 4, concurrency=4)
    assert served_by(responses) == {"n1": 2, "n2": 2}
    r = httpx.post(f"{lb.url}/echo", content=b"abc", trust_env=False)
    assert r.json()["body_len"] == 3 and r.json()["headers"]["x-forwarded-for"] == "127.0.0.1"


def test_request_stats_window_rate_and_percentiles() -> None:
    from pepperpy.cloud.providers.local.loadbalancer import RequestStats

    now = [1000.0]
    stats = RequestStats(clock=lambda: now[0])
    for second in range(30):  # 30 s at 20 requests/s: 19 fast (10 ms) and 1 slow (1 s) each second
        now[0] = 1000.0 + second
        for i in range(20):
            stats.record(1.0 if i == 0 else 0.010)
    now[0] = 1029.999
    assert stats.rate(10) == pytest.approx(20.0, rel=0.01)
    pct = stats.percentiles(60)
    assert pct[0.5] is not None and 0.010 <= pct[0.5] <= 0.010 * 1.15
    assert pct[0.95] is not None and 0.010 <= pct[0.95] <= 0.010 * 1.15  # 5 % are slow: p95 is still fast
    assert pct[0.99] is not None and 1.0 <= pct[0.99] <= 1.15
    now[0] = 1100.0  # a minute of silence empties both windows
    assert stats.rate(10) == 0 and stats.count(60) == 0 and stats.percentiles(60)[0.95] is None


@pytest.mark.parametrize(("doc", "message"), [
    ({"backends": []}, "'deployment'"),
    ({"deployment": "d", "backends": [{"id": "a", "url": "http://127.0.0.1:1/x"}]}, "must not have a path"),
    ({"deployment": "d", "backends": [{"id": "a", "url": "http://127.0.0.1:1", "state": "gone"}]}, "state"),
    ({"deployment": "d", "backends": [{"id": "a", "url": "http://127.0.0.1:1"}] * 2}, "duplicated"),
    ({"deployment": "d", "eject_after": 0}, "eject_after"),
    ({"deployment": "d", "health_path": "health"}, "health_path"),
])
def test_config_errors_name_the_field(doc: dict[str, Any], message: str) -> None:
    from pepperpy.cloud.providers.local.loadbalancer import ConfigError, LBConfig

    with pytest.raises(ConfigError, match=message):
        LBConfig.from_dict(doc)
