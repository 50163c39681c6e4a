"""The monitor on a live local deployment: real replicas, a real collector under supervisord,
real load; metrics, alerts (email + webhook), budget mail, dashboards, costs and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from pepperpy.cloud.monitor.costs import PRECISION
from tests.conftest import Hooks, Mailbox

NAME = "watch-demo"
APP = '''
import json, time
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    status = 200
    if scope["path"] == "/burn":
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
    elif scope["path"] == "/fail":
        status = 500
        print(json.dumps({"level": "ERROR", "message": "failing on purpose <script>x</script>"}), flush=True)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
'''
STACK = """\
name: watch-demo
services:
  web:
    source: .
    entry_point: app.py
    cpu: "1"
    memory: 1Gi
    replicas: {min: 1, max: 1}
cloud:
  cost_optimization:
    budget_alert_threshold: 0.000001
    budget_alert_email: budget@example.com
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox, hooks: Hooks) -> Iterator[dict[str, Any]]:
    """One deployment for the module, scraped every second, with SMTP pointed at the test mailbox."""
    home = tmp_path_factory.mktemp("monitor-home")
    app_dir = tmp_path_factory.mktemp("watch-app")
    (app_dir / "app.py").write_text(APP)
    (app_dir / "requirements.txt").write_text("uvicorn\n")
    (app_dir / "pepperpy.yaml").write_text(STACK)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPPERPY_CLOUD_HOME", str(home))
        mp.setenv("PEPPERPY_SCRAPE_INTERVAL", "1")
        mp.setenv("PEPPERPY_SMTP_HOST", "127.0.0.1")
        mp.setenv("PEPPERPY_SMTP_PORT", str(mailbox.port))
        from pepperpy.cloud.providers.local.runtime import LocalRuntime
        from pepperpy.cloud.providers.local.supervisor import Supervisor
        from pepperpy.cloud.spec.stack import Stack

        runtime = LocalRuntime()
        result = runtime.deploy(Stack.from_file(app_dir / "pepperpy.yaml"), stack_dir=app_dir)[0]
        try:
            yield {"home": home, "url": result.url, "runtime": runtime, "deployed_at": time.time(),
                   "mailbox": mailbox, "hooks": hooks}
        finally:
            runtime.down(NAME)
            Supervisor(home).shutdown()


@pytest.fixture
def env(live: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PEPPERPY_CLOUD_HOME", str(live["home"]))
    return live


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PEPPERPY_CLOUD_HOME": str(home)})


def total(series: Any) -> float:
    return float(series.values.sum())


def test_metrics_are_measured_from_the_running_deployment(env: dict[str, Any]) -> None:
    from pepperpy.cloud import CloudMonitor, LocalProvider, TimeRange

    monitor = CloudMonitor(provider=LocalProvider())
    wanted = ["requests_count", "errors_5xx", "memory_usage", "cpu_usage", "replicas", "response_time"]
    before = monitor.get_metrics(NAME, wanted, TimeRange.LAST_HOUR)
    sent_before = total(before["requests_count"])
    with httpx.Client(base_url=env["url"], timeout=10) as client:
        codes = [client.get("/").status_code for _ in range(40)] + [client.get("/fail").status_code for _ in range(5)]
    assert codes.count(200) == 40 and codes.count(500) == 5

    def counted() -> Any:
        got = monitor.get_metrics(NAME, wanted, TimeRange.LAST_HOUR)
        measured = total(got["requests_count"]) - sent_before == 45 and len(got["cpu_usage"]) > 0
        return got if measured else None

    # psutil needs two readings for CPU, so the first CPU point comes with the second scrape
    result = wait_for("the collector to store the 45 requests and a CPU reading", counted, timeout=20)
    assert total(result["errors_5xx"]) - total(before["errors_5xx"]) == 5
    assert result["memory_usage"].unit == "bytes" and result["memory_usage"].last > 10 * 2**20
    assert result["replicas"].last == 1
    assert len(result["cpu_usage"]) > 0 and result["cpu_usage"].unit == "percent"
    latency = result["response_time"]
    assert len(latency) > 0 and 0 < latency.last < 1.0
    frame = result.to_pandas()
    assert set(frame["metric"]) == set(wanted) and str(frame["timestamp"].dt.tz) == "UTC"


def test_cpu_alert_fires_after_its_duration_then_resolves_by_email_and_webhook(env: dict[str, Any]) -> None:
    from pepperpy.cloud import CloudMonitor, LocalProvider

    mailbox, hooks = env["mailbox"], env["hooks"]
    monitor = CloudMonitor(provider=LocalProvider())
    monitor.create_alert(name="hot-cpu", description="CPU is high", metric="cpu_usage", resource=NAME,
                         threshold=50, duration_seconds=3,
                         notification_channels=["email:ops@example.com", f"webhook:{hooks.url}"])
    rules = (env["home"] / "monitor" / "alerts" / f"{NAME}.rules.yml").read_text()
    assert "alert: hot-cpu" in rules and "for: 3s" in rules
    stop = threading.Event()

    def burn() -> None:
        with httpx.Client(base_url=env["url"], timeout=10) as client:
            while not stop.is_set():
                client.get("/burn")

    workers = [threading.Thread(target=burn) for _ in range(3)]
    load_started = time.time()
    for w in workers:
        w.start()
    try:
        firing = wait_for("the firing webhook", lambda: [b for b in hooks.bodies if b["status"] == "firing"
                                                          and b["alerts"][0]["labels"]["alertname"] == "hot-cpu"],
                          timeout=40)
        fired_at = time.time()
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert fired_at - load_started >= 3  # not before the condition held for duration_seconds
    wait_for("the firing email", lambda: any("[FIRING] hot-cpu" in s for s in mailbox.subjects()))
    resolved = wait_for("the resolved webhook", lambda: [b for b in hooks.bodies if b["status"] == "resolved"
                                                         and b["alerts"][0]["labels"]["alertname"] == "hot-cpu"],
                        timeout=30)
    wait_for("the resolved email", lambda: any("[RESOLVED] hot-cpu" in s for s in mailbox.subjects()))
    assert len(firing) == 1 and len(resolved) == 1  # de-duplicated while it stayed firing
    assert firing[0]["alerts"][0]["labels"]["deployment"] == NAME
    mail = next(m for m in mailbox.messages if "[FIRING] hot-cpu" in str(m["Subject"]))
    assert str(mail["To"]) == "ops@example.com" and "cpu_usage" in mail.get_content()
    monitor.delete_alert("hot-cpu")


def test_budget_forecast_over_threshold_mails_the_owner_once(env: dict[str, Any]) -> None:
    mailbox = env["mailbox"]
    found = wait_for("the budget email", lambda: [m for m in mailbox.messages if "[BUDGET] watch-demo" in
                                                  str(m["Subject"])], timeout=20)
    time.sleep(2.5)  # more scrapes: no second mail this month
    assert len([m for m in mailbox.messages if "[BUDGET] watch-demo" in str(m["Subject"])]) == 1
    assert str(found[0]["To"]) == "budget@example.com" and "forecast:" in found[0].get_content()


def test_actual_costs_are_measured_replica_hours_at_the_catalog_price(env: dict[str, Any]) -> None:
    from pepperpy.cloud import CostEstimator, LocalProvider, TimeRange
    from pepperpy.cloud.catalog.store import default_catalog

    gcp_local = LocalProvider(price_as="gcp", price_region="us-central1")
    estimator = CostEstimator(provider=gcp_local)
    actual = estimator.get_actual_costs(time_range=TimeRange.LAST_MONTH, group_by="service")
    assert actual and all(isinstance(v, Decimal) and v > 0 for v in actual.values())
    report = estimator.actual_costs_report(TimeRange.LAST_MONTH, deployment=NAME)
    compute = next(x for x in report.lines if x.component == "web")
    row = default_catalog().find("gcp", "compute", compute.sku, region="us-central1", unit="hour")[0]
    assert compute.unit_price == row.price and compute.source["source"] == row.source
    elapsed_hours = (time.time() - env["deployed_at"]) / 3600
    assert 0 < float(compute.quantity) <= elapsed_hours  # one replica, measured since its first scrape
    assert float(compute.quantity) > elapsed_hours - 10 / 3600
    assert compute.cost == (compute.quantity * row.price).quantize(PRECISION)
    assert actual[compute.service] >= compute.cost


def test_dashboard_from_seed_widgets_holds_live_data_and_error_logs(env: dict[str, Any], tmp_path: Path) -> None:
    from pepperpy.cloud import CloudMonitor, LocalProvider

    with httpx.Client(base_url=env["url"], timeout=10) as client:
        assert client.get("/fail").status_code == 500
    monitor = CloudMonitor(provider=LocalProvider())
    dashboard = monitor.create_dashboard(
        name="watch-dashboard",
        widgets=[
            {"type": "metric", "title": "CPU Usage", "metric": "cpu_usage", "resource": NAME},
            {"type": "metric", "title": "Request Count", "metric": "requests_count", "resource": NAME},
            {"type": "log", "title": "Error Logs",
             "query": f"resource.labels.deployment_name={NAME} severity>=ERROR"},
        ])
    assert dashboard.url.startswith("file://")
    page = dashboard.html.read_text()
    assert "failing on purpose &lt;script&gt;" in page and "<script>x</script>" not in page
    grafana = json.loads(dashboard.grafana_json.read_text())
    assert [p["title"] for p in grafana["panels"]] == ["CPU Usage", "Request Count", "Error Logs"]


def test_cli_metrics_costs_top_and_bad_input(env: dict[str, Any], tmp_path: Path) -> None:
    home = env["home"]
    shown = cli("metrics", NAME, "--since", "10m", "--json", "--plot", str(tmp_path / "m.png"), home=home)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert {s["metric"] for s in data["series"]} == {"cpu_usage", "memory_usage", "requests_count", "response_time"}
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "m.html").exists()
    table = cli("metrics", NAME, "--since", "10m", home=home)
    assert table.returncode == 0 and "memory_usage" in table.stdout and "MiB" in table.stdout
    costs = cli("costs", NAME, "--provider", "gcp", "--json", home=home)
    assert costs.returncode == 0, costs.stderr
    parsed = json.loads(costs.stdout)
    assert Decimal(parsed["estimate_monthly"]) > 0 and Decimal(parsed["actual"]["total"]) > 0
    assert Decimal(parsed["forecast"]["forecast"]) >= Decimal(parsed["forecast"]["accrued"])
    top = cli("top", "--json", home=home)
    assert top.returncode == 0 and json.loads(top.stdout)[0]["name"] == NAME
    for args, needle in ((("metrics", "nope"), "resource_name: unknown monitored deployment 'nope'"),
                         (("metrics", NAME, "-m", "cpu_usge"), "metrics[0]: unknown metric 'cpu_usge'"),
                         (("metrics", NAME, "--since", "-5m"), "--since"),
                         (("costs", "nope"), "unknown monitored deployment")):
        bad = cli(*args, home=home)
        assert bad.returncode == 2, (args, bad.stderr)
        assert needle in bad.stderr and "Traceback" not in bad.stderr
