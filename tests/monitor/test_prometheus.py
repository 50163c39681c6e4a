"""PrometheusReader against a real Prometheus server scraping a real exposition endpoint.

The module fixture starts ``/usr/bin/prometheus`` (``make validators`` installs it) on a free port of
127.0.0.1, scraping every second an in-test ``prometheus_client`` endpoint that exposes the series the
PepperPy load balancer and collector expose. The tests drive those series to known values and check
that ``get_metrics`` reads back what the PromQL in ``definitions`` should compute from them. Without the
binary the tests are skipped, except under ``CI=true`` where a missing Prometheus is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.monitor.prometheus import ENV_URL, PrometheusReader, default_step

DEPLOYMENT = "rag-api"
CPU = {"r0": 40.0, "r1": 44.0}             # cpu_usage is the average: 42.0
MEMORY = {"r0": 100_000_000, "r1": 50_000_000}  # memory_usage is the sum: 150 MB
REQUESTS = {"2xx": 30, "4xx": 5, "5xx": 15}  # error_rate = 100 * 15 / 50 = 30 %
LATENCY = 0.08                              # every request takes 80 ms; p95 falls in the (0.05, 0.1] bucket


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prometheus_binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)
    if found is None:
        reason = "the prometheus binary is not installed (run `make validators` as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true requires it", pytrace=False)
        pytest.skip(reason)
    return found


@dataclass
class Server:
    """A running Prometheus (``url``) and the instruments of the endpoint it scrapes."""

    url: str
    exporter_url: str
    requests: Counter
    response_time: Histogram
    started: float

    def instant(self, promql: str) -> list[float]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert body["status"] == "success", body
        return [float(item["value"][1]) for item in body["data"]["result"]]

    def wait_for(self, promql: str, ok: object, timeout: float = 10.0) -> None:
        """Poll an instant query until ``ok(values)`` holds: Prometheus has scraped what was driven."""
        deadline = time.monotonic() + timeout
        values: list[float] = []
        while time.monotonic() < deadline:
            values = self.instant(promql)
            if ok(values):  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise AssertionError(f"Prometheus never showed {promql} as expected within {timeout}s; last: {values}")


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = _prometheus_binary()
    work = tmp_path_factory.mktemp("prometheus")

    # The exposition endpoint: the load balancer's series (own registry, as the balancer does) plus
    # the collector's replica gauges, every label child created up front so counters start at 0.
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter("pepperpy_requests", "Requests answered.", ["deployment", "status_class"], registry=registry)
    response_time = Histogram("pepperpy_response_time_seconds", "Response time.", ["deployment"],
                              buckets=(0.01, 0.05, 0.1, 0.5, 1.0), registry=registry)
    cpu = Gauge("pepperpy_replica_cpu_percent", "CPU.", ["deployment", "replica"], registry=registry)
    memory = Gauge("pepperpy_replica_memory_bytes", "RSS.", ["deployment", "replica"], registry=registry)
    replicas = Gauge("pepperpy_replicas", "Replicas.", ["deployment"], registry=registry)
    for status_class in REQUESTS:
        requests.labels(DEPLOYMENT, status_class)
    response_time.labels(DEPLOYMENT)
    for replica in CPU:
        cpu.labels(DEPLOYMENT, replica).set(CPU[replica])
        memory.labels(DEPLOYMENT, replica).set(MEMORY[replica])
    replicas.labels(DEPLOYMENT).set(len(CPU))
    # Another deployment on the same endpoint, so a query that forgot its label filter would show.
    cpu.labels("other", "r0").set(99.0)
    requests.labels("other", "2xx").inc(1000)
    exporter, exporter_thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    exporter_port = exporter.server_address[1]

    config = work / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pepperpy\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n")
    promtool = Path(binary).with_name("promtool")
    if promtool.exists():
        check = subprocess.run([str(promtool), "check", "config", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    port = _free_port()
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    server = Server(url, f"http://127.0.0.1:{exporter_port}", requests, response_time, time.time())
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}: "
                                     + (work / "prometheus.log").read_text()[-2000:])
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("prometheus not ready in 15s: " + (work / "prometheus.log").read_text()[-2000:])
            time.sleep(0.1)
        # Two scrapes of the zero counters, then the traffic, then a scrape that saw all of it.
        server.wait_for(f'count_over_time(pepperpy_requests_total{{deployment="{DEPLOYMENT}",status_class="2xx"}}'
                        '[1m])', lambda v: bool(v) and v[0] >= 2)
        for status_class, n in REQUESTS.items():
            requests.labels(DEPLOYMENT, status_class).inc(n)
            for _ in range(n):
                response_time.labels(DEPLOYMENT).observe(LATENCY)
        server.wait_for(f'sum(pepperpy_requests_total{{deployment="{DEPLOYMENT}"}})',
                        lambda v: bool(v) and v[0] == sum(REQUESTS.values()))
        # Two scrapes more: a range query's last point (on its step grid, up to a step before "now")
        # then falls after the scrape that saw the traffic.
        scrapes = f'count_over_time(pepperpy_replicas{{deployment="{DEPLOYMENT}"}}[1m])'
        seen = server.instant(scrapes)[0]
        server.wait_for(scrapes, lambda v: bool(v) and v[0] >= seen + 2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        exporter.shutdown()
        exporter.server_close()
        exporter_thread.join(timeout=5)


def _window(prom: Server) -> tuple[float, float]:
    return prom.started - 5, time.time()


def test_gauges_read_back_as_driven(prom: Server) -> None:
    start, end = _window(prom)
    with PrometheusReader(prom.url) as reader:
        result = reader.get_metrics(DEPLOYMENT, ["cpu_usage", "memory_usage", "replicas"], start, end, step=1)
    assert result.source == "prometheus"
    assert result.metrics() == ["cpu_usage", "memory_usage", "replicas"]
    cpu, memory, replicas = result["cpu_usage"], result["memory_usage"], result["replicas"]
    assert len(cpu) >= 2 and len(memory) >= 2 and len(replicas) >= 2
    assert np.allclose(cpu.values, 42.0)  # avg of 40 and 44; the other deployment's 99 is not in it
    assert np.allclose(memory.values, 150_000_000)
    assert np.all(replicas.values == 2)
    assert cpu.unit == "percent" and memory.unit == "bytes" and cpu.resource == DEPLOYMENT
    assert cpu.description.startswith("CPU of each replica")
    assert np.all(np.diff(cpu.timestamps) > 0) and start <= cpu.timestamps[0] and cpu.timestamps[-1] <= end + 1


def test_cloud_monitor_reads_the_configured_prometheus(prom: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud import CloudMonitor, LocalProvider, TimeRange

    monkeypatch.setenv("PEPPERPY_PROMETHEUS_URL", prom.url)
    result = CloudMonitor(provider=LocalProvider()).get_metrics(DEPLOYMENT, ["cpu_usage"], TimeRange.since("10m"))
    assert result.source == "prometheus" and np.allclose(result["cpu_usage"].values, 42.0)


def test_counters_and_histogram(prom: Server) -> None:
    start, end = _window(prom)
    names = ["requests_count", "requests_per_second", "errors_4xx", "errors_5xx", "error_rate",
             "response_time", "response_time_p95"]
    with PrometheusReader(prom.url) as reader:
        result = reader.get_metrics(DEPLOYMENT, names, start, end, step=1)
    assert result.metrics() == names
    total = sum(REQUESTS.values())
    # increase() over [1m] holds the whole burst, but Prometheus extrapolates from the last sample to the
    # window's end by up to 1.1 scrape intervals: over n >= 3 samples spanning (n - 1) intervals, that is
    # at most 1.55x the driven total (not below it: the first sample is 0, so nothing before it is added).
    count = result["requests_count"]
    assert count.last is not None and total <= count.last <= total * 1.55, count.points()
    assert result["requests_per_second"].last is not None and result["requests_per_second"].last > 0
    assert result["errors_4xx"].last is not None and result["errors_4xx"].last >= REQUESTS["4xx"]
    assert result["errors_5xx"].last is not None and result["errors_5xx"].last >= REQUESTS["5xx"]
    # Ratios of rates over the same samples: the extrapolation cancels, so these are exact.
    assert result["error_rate"].last == pytest.approx(100 * REQUESTS["5xx"] / total)
    assert result["response_time"].last == pytest.approx(LATENCY)
    assert 0.05 < (result["response_time_p95"].last or 0) <= 0.1
    # Before the traffic the ratios are 0/0 = NaN in Prometheus: dropped, never reported as numbers.
    for series in result:
        assert np.all(np.isfinite(series.values))
    assert len(result["error_rate"]) < len(result["requests_count"])


def test_query_range_raw(prom: Server) -> None:
    start, end = _window(prom)
    with PrometheusReader(prom.url) as reader:
        found = reader.query_range('pepperpy_replica_cpu_percent{deployment="rag-api"}', start, end, 1)
        nan = reader.query_range("0/0", end - 3, end, 1)
        inf = reader.query_range("1/0", end - 3, end, 1)
        instant = reader.query(f'pepperpy_replicas{{deployment="{DEPLOYMENT}"}}')
        scalar = reader.query("scalar(pepperpy_replicas{deployment='rag-api'}) * 2", at=end)
    assert [(labels["deployment"], value) for labels, _, value in instant] == [(DEPLOYMENT, 2.0)]
    assert scalar[0][0] == {} and scalar[0][2] == 4.0 and scalar[0][1] == pytest.approx(end, abs=0.001)
    by_replica = {labels["replica"]: values for labels, _, values in found}
    assert set(by_replica) == set(CPU)
    assert np.allclose(by_replica["r0"], 40.0) and np.allclose(by_replica["r1"], 44.0)
    assert found[0][0]["__name__"] == "pepperpy_replica_cpu_percent"
    assert found[0][1].dtype == np.float64 and found[0][1].shape == found[0][2].shape
    assert np.all(np.isnan(nan[0][2])) and np.all(np.isposinf(inf[0][2]))


def test_unknown_deployment_is_empty_not_an_error(prom: Server) -> None:
    start, end = _window(prom)
    with PrometheusReader(prom.url) as reader:
        result = reader.get_metrics('no-such"deploy', ["cpu_usage"], start, end)  # the quote is escaped
    assert len(result["cpu_usage"]) == 0 and result["cpu_usage"].last is None


def test_bad_query_is_an_input_error_on_metrics(prom: Server) -> None:
    with PrometheusReader(prom.url) as reader, pytest.raises(InputError) as info:
        reader.query_range("sum(pepperpy_requests_total", time.time() - 60, time.time(), 1)
    assert info.value.field == "metrics"
    assert "Prometheus rejected the query (bad_data)" in str(info.value)
    assert "parse error" in str(info.value)


def test_unknown_metric_names_the_known_ones(prom: Server) -> None:
    with PrometheusReader(prom.url) as reader, pytest.raises(NotFoundError) as info:
        reader.get_metrics(DEPLOYMENT, ["cpu_usage", "cpu_usgae"], time.time() - 60, time.time())
    assert info.value.field == "metrics" and "cpu_usage" in info.value.suggestions


def test_unreachable_server_names_prometheus_url() -> None:
    port = _free_port()  # bound then released: nothing listens there
    started = time.monotonic()
    with PrometheusReader(f"http://127.0.0.1:{port}", timeout=2) as reader, pytest.raises(InputError) as info:
        reader.get_metrics(DEPLOYMENT, ["cpu_usage"], time.time() - 60, time.time())
    assert info.value.field == "prometheus_url"
    assert f"cannot reach Prometheus at http://127.0.0.1:{port}" in str(info.value)
    assert time.monotonic() - started < 2


def test_a_server_that_is_not_prometheus(prom: Server) -> None:
    # The exporter answers every path with the text exposition format, not the API's JSON.
    with PrometheusReader(prom.exporter_url) as reader, pytest.raises(InputError) as info:
        reader.get_metrics(DEPLOYMENT, ["cpu_usage"], time.time() - 60, time.time())
    assert info.value.field == "prometheus_url"
    assert "not a Prometheus API response" in str(info.value) and "text/plain" in str(info.value)


@pytest.mark.parametrize("url", ["localhost:9090", "ftp://prom:9090", "http://", "http://prom:99999",
                                 "http://prom:9090/?x=1", "", "   "])
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InputError) as info:
        PrometheusReader(url)
    assert info.value.field == "prometheus_url"


def test_argument_checks() -> None:
    with PrometheusReader("http://127.0.0.1:9/") as reader:
        assert reader.url == "http://127.0.0.1:9"
        with pytest.raises(InputError, match="time_range"):
            reader.get_metrics(DEPLOYMENT, ["cpu_usage"], 100.0, 50.0)
        with pytest.raises(InputError, match="step"):
            reader.query_range("up", 0.0, 100.0, 0)
        with pytest.raises(InputError, match="more than Prometheus's 11000 points"):
            reader.query_range("up", 0.0, 86400.0, 1)
    with pytest.raises(InputError, match="timeout"):
        PrometheusReader("http://prom:9090", timeout=0)


def test_default_step() -> None:
    assert default_step(0, 3600) == 15
    assert default_step(0, 86400) == 86
    assert default_step(0, 30 * 86400) == 2592


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    assert PrometheusReader.from_env() is None
    monkeypatch.setenv(ENV_URL, "")
    assert PrometheusReader.from_env() is None
    monkeypatch.setenv(ENV_URL, "https://prom.example.com:9090/prefix/")
    reader = PrometheusReader.from_env(timeout=3)
    assert reader is not None and reader.url == "https://prom.example.com:9090/prefix" and reader.timeout == 3
    reader.close()
    monkeypatch.setenv(ENV_URL, "prom.example.com:9090")
    with pytest.raises(InputError, match="prometheus_url"):
        PrometheusReader.from_env()
