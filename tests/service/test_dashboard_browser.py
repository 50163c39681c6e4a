"""The web dashboard end to end: a real uvicorn process, driven by headless Chromium through Playwright.

The browser is Debian's ``chromium`` (``make validators`` installs it), started through Playwright's
``executable_path``; nothing is downloaded by ``playwright install``. Without chromium or the ``playwright``
package the tests are skipped, except under CI (``CI=true``), where that is a failure. Screenshots of every
tab are kept in ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).parents[2]
KV_STORE = ROOT / "examples" / "stacks" / "kv-store.yaml"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.timeout(300)


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    _missing("chromium is not installed; 'make validators' installs Debian's chromium")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class Service:
    def __init__(self, url: str, key: str, home: Path) -> None:
        self.url, self.key, self.home = url, key, home

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, self.url + path, headers={"X-API-Key": self.key}, timeout=60, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service in its own uvicorn process on 127.0.0.1, with a fresh home and one API key."""
    from pepperpy.cloud.service.auth import KeyStore

    home = tmp_path_factory.mktemp("service-home")
    store = KeyStore(home / "service" / "keys.db")
    _, key = store.create("dashboard browser test")
    store.close()
    port = _free_port()
    env = {**os.environ, "PEPPERPY_CLOUD_HOME": str(home), "ENVIRONMENT": "testing", "LOG_LEVEL": "warning"}
    for name in ("REDIS_URL", "ALLOWED_ORIGINS", "KEYS_DB", "PEPPERPY_SERVICE_CONFIG_DIR"):
        env.pop(name, None)
    log = (home / "uvicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "pepperpy.cloud.service.app:create_app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the service exited with {proc.returncode}: {(home / 'uvicorn.log').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not become ready: {(home / 'uvicorn.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield Service(url, key, home)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        from pepperpy.cloud.providers.local.supervisor import Supervisor

        Supervisor(home).shutdown()  # the deployments tab started one in this home


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed; pip install playwright (no 'playwright install' needed)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        yield b
        b.close()


def _plotly_js() -> Path | None:
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def _new_context(browser: Any, service: Service, plotly: bool = True) -> Any:
    """A browser context; /vendor/plotly.min.js comes from the service, else from the installed plotly
    package (so the Plotly charts are exercised either way), or is refused when ``plotly`` is False."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    if not plotly:
        context.route("**/vendor/plotly.min.js", lambda route: route.abort())
    elif httpx.get(service.url + "/vendor/plotly.min.js", timeout=10).status_code != 200:
        bundled = _plotly_js()
        if bundled is not None:
            context.route("**/vendor/plotly.min.js", lambda route: route.fulfill(
                path=str(bundled), content_type="text/javascript"))
    return context


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    """A dashboard page whose API key was entered in the dialog; JavaScript errors fail the test."""
    context = _new_context(browser, service)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(service.url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    enter_key(pg, service.key)
    yield pg
    context.close()
    assert not errors, errors


def enter_key(pg: Any, key: str) -> None:
    dialog = pg.locator("#key-dialog")
    dialog.wait_for(state="visible")
    pg.get_by_role("textbox", name="API key").fill(key)
    pg.get_by_role("button", name="Save key").click()
    dialog.wait_for(state="hidden")


def test_the_key_is_asked_once_kept_for_the_session_and_a_bad_one_is_asked_again(
        browser: Any, service: Service) -> None:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(service.url + "/")
    _shot(pg, "00-api-key")
    enter_key(pg, "ppc_wrongkey_" + "x" * 30)
    pg.get_by_label("Stack (pepperpy.yaml)").fill(KV_STORE.read_text())
    pg.get_by_role("button", name="Estimate").click()
    # The service answers 401; the dashboard shows why and asks for the key again.
    pg.locator("#key-dialog").wait_for(state="visible")
    assert "invalid API key" in pg.locator("#key-error").inner_text()
    enter_key(pg, service.key)
    assert pg.evaluate("Object.values(sessionStorage)") == [service.key]
    pg.reload()
    pg.wait_for_selector("body[data-ready=true]")
    assert not pg.locator("#key-dialog").is_visible()
    assert pg.evaluate("Object.values(sessionStorage)") == [service.key]
    context.close()


def test_estimate_compares_providers_with_charts_and_cited_lines(page: Any, service: Service) -> None:
    page.get_by_label("Or load a file").set_input_files(str(KV_STORE))
    page.wait_for_function("document.querySelector('#estimate-status').textContent.startsWith('Loaded')")
    assert page.get_by_label("Stack (pepperpy.yaml)").input_value() == KV_STORE.read_text()
    page.locator("#panel-estimate").get_by_label("Provider").select_option("all")
    page.get_by_role("button", name="Estimate").click()
    page.wait_for_function("document.querySelectorAll('#compare-table .compare-total').length === 3")
    page.wait_for_selector("#chart-compare svg, #chart-compare canvas")
    if _plotly_js() is not None:
        assert page.locator("#chart-compare .main-svg .bars path").count() == 3  # Plotly's bars
    for provider in ("aws", "azure", "gcp"):
        page.wait_for_selector(f"#chart-items-{provider} svg, #chart-items-{provider} canvas")

    expected = service.call("POST", "/v1/compare", json={"stack": KV_STORE.read_text()})["rows"]
    shown = page.eval_on_selector_all(
        "#compare-table .compare-total", "els => els.map(e => [e.dataset.provider, e.dataset.total, e.textContent])")
    assert {p: Decimal(t) for p, t, _ in shown} == {r["provider"]: Decimal(r["on_demand"]) for r in expected}
    for _, total, text in shown:
        assert text == f"${Decimal(total).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"  # as the CLI rounds
    for row in expected:
        card = page.locator(f'.provider-card[data-provider="{row["provider"]}"]')
        assert Decimal(card.locator(".estimate-total").get_attribute("data-total")) == Decimal(row["on_demand"])
    cheapest = [r["provider"] for r in expected if r["cheapest"]]
    assert page.locator("#compare-table .badge").count() == len(cheapest)

    # Lines the catalog cannot price read "unknown", never $0, and every provider here has some.
    unknown = page.locator('[data-monthly="unknown"]')
    assert unknown.count() == sum(r["unpriced"] for r in expected) > 0
    assert set(unknown.all_inner_texts()) == {"unknown"}
    # Each priced line cites the published catalog rows behind it.
    first = page.locator('.provider-card[data-provider="aws"] details').first
    first.locator("summary").click()
    citation = first.locator("li").first.inner_text()
    assert "aws" in citation and "as of" in citation and "USD/" in citation
    _shot(page, "01-estimate-compare")


def test_a_single_provider_estimate_and_an_error_are_shown_as_text(page: Any, service: Service) -> None:
    page.get_by_label("Stack (pepperpy.yaml)").fill(KV_STORE.read_text())
    page.locator("#panel-estimate").get_by_label("Provider").select_option("gcp")
    page.get_by_role("button", name="Estimate").click()
    page.wait_for_selector('.provider-card[data-provider="gcp"] .estimate-total')
    direct = service.call("POST", "/v1/estimate", json={"stack": KV_STORE.read_text(), "provider": "gcp"})
    shown = page.locator('.provider-card[data-provider="gcp"] .estimate-total').get_attribute("data-total")
    assert Decimal(shown) == Decimal(direct["total_monthly"])
    assert page.locator(".provider-card").count() == 1

    # Markup in user input comes back inside an error message: it must stay text.
    hostile = 'name: demo\nservices:\n  app: {image: "<img src=x onerror=window.__xss=1>", replicas: {min: 3, max: 1}}\n'
    page.get_by_label("Stack (pepperpy.yaml)").fill(hostile)
    page.get_by_role("button", name="Estimate").click()
    page.wait_for_selector("#estimate-status.error")
    status = page.locator("#estimate-status").inner_text()
    assert "max (1) must be >= min (3)" in status
    assert page.locator("#panel-estimate img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_instances_filter_and_sort(page: Any, service: Service) -> None:
    page.get_by_role("tab", name="Instances").click()
    page.get_by_label("Min vCPUs").fill("8")
    page.get_by_label("Min GPUs").fill("1")
    page.get_by_label("Limit").fill("15")
    page.get_by_role("button", name="Find instances").click()
    page.wait_for_selector("#instances-table tbody tr")
    expected = service.call("GET", "/v1/instances", params={"vcpus": 8, "gpu_count": 1, "limit": 15})["instances"]
    rows = page.eval_on_selector_all(
        "#instances-table tbody tr", "trs => trs.map(tr => Array.from(tr.cells).map(td => td.textContent))")
    assert len(rows) == len(expected) > 0
    header = page.eval_on_selector_all("#instances-table thead th", "ths => ths.map(th => th.textContent)")
    col = {name: i for i, name in enumerate(header)}
    assert [r[col["Instance"]] for r in rows] == [e["sku"] for e in expected]
    assert all(float(r[col["vCPUs"]]) >= 8 for r in rows)
    assert all(" × " in r[col["GPUs"]] for r in rows)
    # Cheapest first as served; one click on the heading sorts by price ascending, a second descending.
    page.get_by_role("button", name="$/hour").click()
    page.get_by_role("button", name="$/hour").click()
    assert page.locator("#instances-table th", has_text="$/hour").get_attribute("aria-sort") == "descending"
    prices = [Decimal(t.lstrip("$")) for t in page.eval_on_selector_all(
        "#instances-table tbody tr", f"trs => trs.map(tr => tr.cells[{col['$/hour']}].textContent)")]
    assert prices == sorted(prices, reverse=True)
    _shot(page, "02-instances")


def test_ask_shows_the_answer_with_citations(page: Any) -> None:
    page.get_by_role("tab", name="Ask").click()
    page.get_by_label("Question").fill("cheapest GPU with at least 24 GB in a US region")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.wait_for_selector("#answer-text")
    assert page.locator("#answer-text").inner_text().strip()
    assert page.locator("#answer-citations li").count() >= 1
    assert page.locator("#answer-tools").inner_text().strip() not in ("", "none")
    _shot(page, "03-ask")


def test_deployments_tab_lists_the_deployments(page: Any, service: Service) -> None:
    listed = service.call("GET", "/v1/deployments")["deployments"]
    page.get_by_role("tab", name="Deployments").click()
    page.wait_for_function("!document.querySelector('#deployments-status').classList.contains('busy')")
    assert "error" not in (page.locator("#deployments-status").get_attribute("class") or "")
    if listed:
        assert page.locator("#deployments-table tbody tr").count() == len(listed)
    else:
        assert "No deployments yet" in page.locator("#deployments-status").inner_text()
    _shot(page, "04-deployments")


LIVE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""
LIVE_STACK = """\
name: dash-live
services:
  web:
    source: .
    entry_point: app.py
    cpu: "1"
    memory: 512Mi
    replicas: {min: 1, max: 3}
"""


@pytest.fixture(scope="module")
def live(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tiny ASGI app deployed with the local provider into the service's home, scraped every second."""
    app_dir = tmp_path_factory.mktemp("dash-live")
    (app_dir / "app.py").write_text(LIVE_APP)
    (app_dir / "requirements.txt").write_text("uvicorn\n")
    (app_dir / "pepperpy.yaml").write_text(LIVE_STACK)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPPERPY_CLOUD_HOME", str(service.home))
        mp.setenv("PEPPERPY_SCRAPE_INTERVAL", "1")
        from pepperpy.cloud.providers.local.runtime import LocalRuntime
        from pepperpy.cloud.spec.stack import Stack

        runtime = LocalRuntime()
        result = runtime.deploy(Stack.from_file(app_dir / "pepperpy.yaml"), stack_dir=app_dir)[0]
        try:
            for _ in range(20):
                httpx.get(result.url, timeout=10)
            yield "dash-live"
        finally:
            runtime.down("dash-live")


def test_a_deployment_shows_live_metrics_and_scales(page: Any, service: Service, live: str) -> None:
    page.get_by_role("tab", name="Deployments").click()
    page.get_by_role("button", name="Refresh").click()
    page.get_by_role("button", name=live).click()
    page.wait_for_selector("#replicas-table tbody tr")
    assert page.locator("#replicas-table tbody tr").count() == 1
    # The charts fill from /v1/metrics and refresh every 5 s without a click.
    page.wait_for_function("document.querySelector('#metrics-source').textContent.includes('updated')")
    first = page.locator("#metrics-source").inner_text()
    page.wait_for_function(f"document.querySelector('#metrics-source').textContent !== {json.dumps(first)}",
                           timeout=15_000)
    assert "Source: " in first
    for metric in ("cpu_usage", "memory_usage", "requests_per_second", "response_time_p95"):
        assert page.locator(f"#metric-{metric} svg").count() > 0
    measured = service.call("GET", f"/v1/metrics/{live}", params={"metric": "memory_usage", "since": "1h"})
    if any(p[1] for s in measured["series"] for p in s["points"]):
        assert page.locator("#metric-memory_usage .scatterlayer path.js-line, "
                            "#metric-memory_usage svg.svg-chart path").count() > 0
    _shot(page, "06-deployment-live-metrics")

    page.get_by_label("Replicas").fill("2")
    page.get_by_role("button", name="Scale", exact=True).click()
    page.wait_for_function(
        "document.querySelector('#deployments-status').textContent.includes('scaled to 2')", timeout=60_000)
    assert len(service.call("GET", f"/v1/deployments/{live}")["replicas"]) == 2
    page.wait_for_function("document.querySelectorAll('#replicas-table tbody tr').length === 2")
    _shot(page, "07-deployment-scaled")


def test_charts_are_drawn_as_svg_when_plotly_is_not_there(browser: Any, service: Service) -> None:
    context = _new_context(browser, service, plotly=False)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(service.url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    enter_key(pg, service.key)
    assert pg.evaluate("typeof window.Plotly") == "undefined"
    pg.get_by_label("Stack (pepperpy.yaml)").fill(KV_STORE.read_text())
    pg.get_by_role("button", name="Estimate").click()
    pg.wait_for_selector("#chart-compare svg.svg-chart rect")
    assert pg.locator("#chart-compare svg.svg-chart rect").count() == 3
    assert pg.locator("#chart-items-azure svg.svg-chart rect").count() > 0
    _shot(pg, "05-estimate-svg-fallback")
    context.close()


def test_tabs_work_from_the_keyboard(page: Any) -> None:
    page.get_by_role("tab", name="Estimate").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-instances"
    assert page.locator("#panel-instances").is_visible() and not page.locator("#panel-estimate").is_visible()
    page.keyboard.press("End")
    assert page.get_by_role("tab", name="Deployments").get_attribute("aria-selected") == "true"
    page.keyboard.press("Home")
    assert page.locator("#panel-estimate").is_visible()
    assert json.loads(page.evaluate("JSON.stringify(location.hash)")) == "#estimate"
