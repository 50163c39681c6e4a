"""create_dashboard: widget validation, the log query language, Grafana JSON and the offline HTML page."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.monitor import definitions
from pepperpy.cloud.monitor.dashboards import (
    Dashboard,
    LogQuery,
    LogWidget,
    MetricWidget,
    create_dashboard,
    dashboard_uid,
    grafana_dashboard,
    parse_log_line,
    parse_log_query,
    read_json_logs,
    render_html,
    validate_widgets,
)
from pepperpy.cloud.monitor.series import Series

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NAME = "rag-app"
SEED_WIDGETS: list[dict[str, Any]] = [
    {"type": "metric", "title": "CPU Usage", "metric": "cpu_usage", "resource": NAME},
    {"type": "metric", "title": "Memory", "metric": "memory_usage", "resource": NAME},
    {"type": "log", "title": "Error Logs", "query": f"resource.labels.deployment_name={NAME} severity>=ERROR"},
]

ENTRIES: list[dict[str, Any]] = [
    {"timestamp": "2023-11-14T22:13:21.000+00:00", "level": "INFO", "message": "started"},
    {"timestamp": "2023-11-14T22:13:22.000+00:00", "level": "warn", "message": "slow"},
    {"timestamp": "2023-11-14T22:13:23.000+00:00", "level": "ERROR", "message": "boom"},
    {"timestamp": "2023-11-14T22:13:24.000+00:00", "severity": "critical", "message": "down"},
    {"timestamp": "2023-11-14T22:13:25.000+00:00", "level": "Fatal", "message": "dead"},
    {"timestamp": "2023-11-14T22:13:26.000+00:00", "message": "no level"},
    {"timestamp": "2023-11-14T22:13:27.000+00:00", "level": "DEBUG", "message": "noise"},
]


def cpu_series(n: int = 20) -> Series:
    ts = T0 + np.arange(n) * 15.0
    return Series("cpu_usage", NAME, "percent", ts, np.linspace(5, 50, n))


def no_logs(query: LogQuery) -> list[dict[str, Any]]:
    return []


def series_for(metric: str, resource: str) -> Series | None:
    return cpu_series() if metric == "cpu_usage" else None


# --------------------------------------------------------------------------- log query language


def test_parse_seed_query() -> None:
    query = parse_log_query(f"resource.labels.deployment_name={NAME} severity>=ERROR")
    assert query.deployment == NAME
    assert [(t.kind, t.op, t.value) for t in query.terms] == [("deployment", "=", NAME), ("level", ">=", "ERROR")]


def test_severity_at_least_error_keeps_error_and_critical_of_that_deployment() -> None:
    query = parse_log_query(f"deployment={NAME} severity>=ERROR")
    kept = [e["message"] for e in ENTRIES if query.matches(e, NAME)]
    assert kept == ["boom", "down", "dead"]  # ERROR, critical (severity field), Fatal == CRITICAL
    assert not [e for e in ENTRIES if query.matches(e, "other-app")]


def test_levels_are_case_insensitive_and_warn_is_warning() -> None:
    warning = parse_log_query("severity>=warning")
    assert [e["message"] for e in ENTRIES if warning.matches(e, NAME)] == ["slow", "boom", "down", "dead"]
    exact = parse_log_query("level=WARN")
    assert [e["message"] for e in ENTRIES if exact.matches(e, NAME)] == ["slow"]
    assert parse_log_query("severity>=INFO").matches({"message": "no level"}, NAME)  # no level counts as INFO


def test_field_terms_match_json_fields() -> None:
    query = parse_log_query('status=500 method!=GET message="disk full" ctx.region=eu')
    entry = {"status": 500, "method": "POST", "message": "disk full", "ctx": {"region": "eu"}}
    assert query.matches(entry, NAME)
    assert not query.matches({**entry, "method": "GET"}, NAME)
    assert not query.matches({**entry, "status": 200}, NAME)
    assert not query.matches({k: v for k, v in entry.items() if k != "status"}, NAME)  # missing never equals
    assert parse_log_query("method!=GET").matches({}, NAME)


def test_deployment_not_equal() -> None:
    query = parse_log_query("deployment!=canary")
    assert query.matches({}, NAME) and not query.matches({}, "canary")
    assert query.deployment is None


@pytest.mark.parametrize(("text", "needle"), [
    ("severity>=ERROR garbage", "'garbage' is not a term"),
    ("severity>=LOUD", "'LOUD' is not a level"),
    ("status>=500", "only severity takes >="),
    ('message="unclosed', "cannot parse"),
    ("deployment>=x", "= or !="),
    ("status=", "is not a term"),
])
def test_unparseable_queries_name_the_field(text: str, needle: str) -> None:
    with pytest.raises(InputError) as err:
        parse_log_query(text, "widgets[4].query")
    assert err.value.field == "widgets[4].query"
    assert needle in str(err.value)


def test_loki_translation() -> None:
    seed = parse_log_query(f"resource.labels.deployment_name={NAME} severity>=ERROR")
    levels = '"(?i)(ERROR|CRITICAL|FATAL)"'
    assert seed.loki() == f'{{deployment="{NAME}"}} | json | level=~{levels} or severity=~{levels}'
    other = parse_log_query('deployment!=canary path="/a b" req.id!=7 severity=warn')
    assert other.loki() == ('{deployment=~".+", deployment!="canary"} | json | path="/a b" | req_id!="7" | '
                            'level=~"(?i)(WARNING|WARN)" or severity=~"(?i)(WARNING|WARN)"')
    quoted = parse_log_query("message='say \"hi\"'")
    assert quoted.loki().endswith('| message="say \\"hi\\""')


# --------------------------------------------------------------------------- widget validation


def test_seed_widgets_validate_to_models() -> None:
    models = validate_widgets(SEED_WIDGETS)
    assert [type(m) for m in models] == [MetricWidget, MetricWidget, LogWidget]
    assert isinstance(models[0], MetricWidget)
    assert models[0].heading == "CPU Usage" and models[0].definition.name == "cpu_usage"
    assert isinstance(models[2], LogWidget) and models[2].log_query.deployment == NAME
    assert validate_widgets(models) == models  # already-validated models pass through


@pytest.mark.parametrize(("bad", "field", "needle"), [
    ({"type": "gauge", "title": "x"}, "widgets[2].type", "'gauge' is not a widget type; use metric or log"),
    ({"title": "x"}, "widgets[2].type", "missing; use metric or log"),
    ({"type": "metric", "metric": "cpu_usage"}, "widgets[2].resource", "missing"),
    ({"type": "metric", "metric": "cpu_usage", "resource": NAME, "colour": "red"}, "widgets[2].colour",
     "unknown field"),
    ({"type": "log", "query": 42}, "widgets[2].query", "valid string"),
    ("cpu_usage", "widgets[2]", "expected a mapping"),
    ({"type": "log", "query": "severity>>ERROR"}, "widgets[2].query", "is not a term"),
])
def test_bad_widget_names_its_field_and_writes_nothing(home: Path, bad: object, field: str, needle: str) -> None:
    widgets: list[Any] = [*SEED_WIDGETS[:2], bad]
    with pytest.raises(InputError) as err:
        create_dashboard(NAME, widgets, series_for=series_for, logs_for=no_logs)
    assert err.value.field == field
    assert needle in str(err.value)
    assert not (home / "dashboards").exists()


def test_unknown_metric_is_not_found_with_suggestions(home: Path) -> None:
    widgets = [SEED_WIDGETS[0], {"type": "metric", "metric": "cpu_usgae", "resource": NAME}]
    with pytest.raises(NotFoundError) as err:
        create_dashboard(NAME, widgets, series_for=series_for, logs_for=no_logs)
    assert err.value.field == "widgets[1].metric"
    assert "cpu_usage" in err.value.suggestions
    assert not (home / "dashboards").exists()


@pytest.mark.parametrize("widgets", [[], "cpu_usage", {"type": "metric"}])
def test_widgets_must_be_a_non_empty_list(widgets: object) -> None:
    with pytest.raises(InputError) as err:
        validate_widgets(widgets)
    assert err.value.field == "widgets"


@pytest.mark.parametrize("name", ["", "Bad", "-lead", "a_b", "x" * 64, "a b"])
def test_bad_dashboard_name(home: Path, name: str) -> None:
    with pytest.raises(InputError) as err:
        create_dashboard(name, SEED_WIDGETS, series_for=series_for, logs_for=no_logs)
    assert err.value.field == "name"
    assert not (home / "dashboards").exists()


# --------------------------------------------------------------------------- Grafana JSON


def test_grafana_model_has_what_import_needs() -> None:
    model = grafana_dashboard(NAME, SEED_WIDGETS)
    assert json.loads(json.dumps(model)) == model  # plain JSON types only
    assert model["uid"] == dashboard_uid(NAME) and model["title"] == NAME
    assert model["tags"] == ["pepperpy"] and model["timezone"] == "utc"
    assert model["schemaVersion"] == 39 and model["refresh"] == "30s"
    assert model["time"] == {"from": "now-6h", "to": "now"}
    assert "annotations" in model
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["DS_LOKI"]["type"] == "datasource" and variables["DS_LOKI"]["query"] == "loki"

    panels = model["panels"]
    assert len(panels) == len(SEED_WIDGETS)
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"id", "type", "title", "gridPos", "targets", "datasource", "fieldConfig"} <= panel.keys()
        assert panel["gridPos"]["w"] == 12 and panel["gridPos"]["h"] == 8
    assert [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels] == [(0, 0), (12, 0), (0, 8)]


def test_metric_panels_query_prometheus_with_units() -> None:
    panels = grafana_dashboard(NAME, SEED_WIDGETS)["panels"]
    for panel, widget in zip(panels[:2], SEED_WIDGETS[:2], strict=True):
        assert panel["type"] == "timeseries" and panel["title"] == widget["title"]
        target = panel["targets"][0]
        assert target["expr"] == definitions.promql(widget["metric"], NAME)
        assert f'deployment="{NAME}"' in target["expr"]
        assert target["refId"] == "A"
        assert target["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["fieldConfig"]["defaults"]["unit"] == definitions.metric(widget["metric"]).grafana_unit
    assert [p["fieldConfig"]["defaults"]["unit"] for p in panels[:2]] == ["percent", "bytes"]


def test_log_panel_queries_loki() -> None:
    panel = grafana_dashboard(NAME, SEED_WIDGETS)["panels"][2]
    assert panel["type"] == "logs"
    assert panel["targets"][0]["expr"] == parse_log_query(SEED_WIDGETS[2]["query"]).loki()
    assert panel["targets"][0]["datasource"] == {"type": "loki", "uid": "${DS_LOKI}"}


def test_no_loki_variable_without_log_widgets() -> None:
    model = grafana_dashboard(NAME, SEED_WIDGETS[:1])
    assert [v["name"] for v in model["templating"]["list"]] == ["DS_PROMETHEUS"]


def test_uid_is_stable_and_short() -> None:
    long_name = "a" + "-b" * 31
    assert dashboard_uid(long_name) == dashboard_uid(long_name)
    assert len(dashboard_uid(long_name)) <= 40
    assert dashboard_uid(long_name) != dashboard_uid(long_name[:-2] + "-c")
    assert dashboard_uid("web") == "pepperpy-web"


def _lost_keys(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Keys or values of ``ours`` that are absent from / different in ``theirs``."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path]
        return [lost for key, value in ours.items()
                for lost in ([f"{path}.{key}"] if key not in theirs else _lost_keys(value, theirs[key], f"{path}.{key}"))]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [path]
        return [lost for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for lost in _lost_keys(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [path]


def test_every_key_is_known_to_grafanas_schema_models() -> None:
    """Decode with grafana-foundation-sdk (generated from Grafana's schema) and re-encode: nothing may be lost.

    The SDK ignores keys its models do not have, so a misspelt or misplaced key disappears on the
    round trip; panel options and field config are decoded by each panel plugin's own model.
    """
    sdk = pytest.importorskip("grafana_foundation_sdk")
    del sdk
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard as GrafanaDashboard

    plugins.register_default_plugins()
    ours = grafana_dashboard(NAME, SEED_WIDGETS)
    theirs = json.loads(json.dumps(GrafanaDashboard.from_json(ours), cls=JSONEncoder))
    assert _lost_keys(ours, theirs) == []


# --------------------------------------------------------------------------- HTML


def plot_calls(page: str) -> list[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    """(div id, data, layout) of every ``Plotly.newPlot("id",data,layout,config)`` call on the page."""
    decoder = json.JSONDecoder()
    calls = []
    for match in re.finditer(r"Plotly\.newPlot\(", page):
        div_id, pos = decoder.raw_decode(page, match.end())
        data, pos = decoder.raw_decode(page, pos + 1)
        layout, _ = decoder.raw_decode(page, pos + 1)
        calls.append((div_id, data, layout))
    return calls


def _render(logs: list[dict[str, Any]], widgets: list[dict[str, Any]] | None = None) -> str:
    return render_html(NAME, widgets or SEED_WIDGETS, series_for, lambda q: logs, generated_at=T0)


def test_html_inlines_plotly_once_and_plots_the_data() -> None:
    plotly_js = importlib.import_module("plotly.offline").get_plotlyjs()
    page = _render([])
    assert page.count(plotly_js[:300]) == 1
    assert "<script src=" not in page
    assert f"<h1>{NAME}</h1>" in page and "generated 2023-11-14 22:13:20 UTC" in page
    calls = plot_calls(page)
    assert [c[0] for c in calls] == ["w0"]  # memory has no series: no plot for it
    assert 'id="w0"' in page
    trace = calls[0][1][0]
    assert trace["y"] == pytest.approx(np.linspace(5, 50, 20).tolist())
    assert trace["x"][0] == "2023-11-14 22:13:20.000000"
    assert calls[0][2]["yaxis"]["title"]["text"] == "%"
    assert "no samples in range" in page  # the memory widget


def test_html_without_metric_widgets_skips_plotly() -> None:
    page = _render([], [SEED_WIDGETS[2]])
    assert "Plotly.newPlot" not in page and len(page) < 100_000


def test_html_keeps_gaps() -> None:
    ts = np.concatenate([T0 + np.arange(5) * 15.0, T0 + 600 + np.arange(5) * 15.0])
    gappy = Series("cpu_usage", NAME, "percent", ts, np.ones(10))
    page = render_html(NAME, SEED_WIDGETS[:1], lambda m, r: gappy, no_logs, generated_at=T0)
    trace = plot_calls(page)[0][1][0]
    assert trace["y"][5] is None and trace["connectgaps"] is False


def test_log_table_newest_first_and_capped() -> None:
    logs = [{"timestamp": T0 + i, "level": "ERROR", "message": f"error number {i}"} for i in range(250)]
    page = _render(logs)
    messages = re.findall(r"error number (\d+)", page)
    assert len(messages) == 200
    assert messages[0] == "249" and messages[-1] == "50"
    assert "2023-11-14 22:17:29.000" in page  # T0 + 249 s, in UTC


def test_log_messages_are_escaped() -> None:
    evil = {"timestamp": "2023-11-14T22:13:21Z", "level": "<b>ERROR</b>",
            "message": "<script>alert('x')</script>", "error": "Traceback <img src=x onerror=alert(1)>"}
    page = _render([evil])
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>ERROR" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_titles_and_data_cannot_break_out_of_script() -> None:
    widgets = [{"type": "metric", "title": "</script><script>alert(1)</script>", "metric": "cpu_usage",
                "resource": NAME}]
    weird = Series("</script><b>", NAME, "percent", np.array([T0]), np.array([1.0]))
    page = render_html(NAME, widgets, lambda m, r: weird, no_logs, generated_at=T0)
    assert "</script><script>alert(1)" not in page and "</script><b>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --------------------------------------------------------------------------- create_dashboard


def test_create_dashboard_writes_both_files(home: Path) -> None:
    seen: list[str] = []

    def logs_for(query: LogQuery) -> list[dict[str, Any]]:
        seen.append(query.text)
        return [e for e in ENTRIES if query.matches(e, NAME)]

    board = create_dashboard(NAME, SEED_WIDGETS, series_for=series_for, logs_for=logs_for, generated_at=T0)
    assert isinstance(board, Dashboard)
    assert board.path == home / "dashboards" / NAME
    assert sorted(p.name for p in board.path.iterdir()) == ["grafana.json", "index.html"]
    assert board.html == board.path / "index.html" and board.grafana_json == board.path / "grafana.json"
    assert board.url == board.html.resolve().as_uri() and board.url.startswith("file://")
    assert json.loads(board.grafana_json.read_text()) == grafana_dashboard(NAME, SEED_WIDGETS)
    page = board.html.read_text(encoding="utf-8")
    assert ">boom<" in page and ">down<" in page and ">started<" not in page
    assert seen == [SEED_WIDGETS[2]["query"]]
    assert [type(w) for w in board.widgets] == [MetricWidget, MetricWidget, LogWidget]
    assert [p.name for p in (home / "dashboards").iterdir()] == [NAME]  # no temp dirs left


def test_create_dashboard_replaces_and_failure_keeps_the_old_one(tmp_path: Path) -> None:
    out = tmp_path / "board"
    create_dashboard(NAME, SEED_WIDGETS, series_for=series_for, logs_for=no_logs, out_dir=out)
    first = (out / "grafana.json").read_text()
    create_dashboard(NAME, SEED_WIDGETS[:1], series_for=series_for, logs_for=no_logs, out_dir=out)
    assert len(json.loads((out / "grafana.json").read_text())["panels"]) == 1

    def broken(metric: str, resource: str) -> Series | None:
        raise RuntimeError("store unreadable")

    before = (out / "grafana.json").read_text()
    with pytest.raises(RuntimeError):
        create_dashboard(NAME, SEED_WIDGETS, series_for=broken, logs_for=no_logs, out_dir=out)
    assert (out / "grafana.json").read_text() == before != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board"]


def test_failed_first_write_leaves_no_directory(home: Path) -> None:
    def broken(query: LogQuery) -> list[dict[str, Any]]:
        raise OSError("log dir gone")

    with pytest.raises(OSError):
        create_dashboard(NAME, SEED_WIDGETS, series_for=series_for, logs_for=broken)
    assert not (home / "dashboards" / NAME).exists()


# --------------------------------------------------------------------------- reading log files


def test_parse_log_line() -> None:
    assert parse_log_line('{"level": "ERROR", "message": "x"}\n') == {"level": "ERROR", "message": "x"}
    assert parse_log_line("Traceback (most recent call last):") == {
        "message": "Traceback (most recent call last):", "level": "ERROR"}
    assert parse_log_line("uvicorn running") == {"message": "uvicorn running", "level": "INFO"}
    assert parse_log_line("[1, 2]")["level"] == "INFO"
    assert parse_log_line("{not json")["message"] == "{not json"


def test_read_json_logs_filters_merges_and_limits(tmp_path: Path) -> None:
    r0, r1 = tmp_path / "r0.log", tmp_path / "r1.log"
    r0.write_text("\n".join([
        json.dumps({"timestamp": "2023-11-14T22:13:21.000+00:00", "level": "INFO", "message": "up"}),
        json.dumps({"timestamp": "2023-11-14T22:13:23.000+00:00", "level": "ERROR", "message": "r0 boom"}),
        "Traceback (most recent call last):",
        "plain line",
        "",
    ]) + "\n", encoding="utf-8")
    r1.write_text("\n".join([
        json.dumps({"timestamp": "2023-11-14T22:13:22.000+00:00", "level": "CRITICAL", "message": "r1 down"}),
        json.dumps({"timestamp": "2023-11-14T22:13:24.000+00:00", "level": "error", "message": "r1 late"}),
    ]) + "\n", encoding="utf-8")
    query = parse_log_query(f"deployment={NAME} severity>=ERROR")
    got = read_json_logs([r0, r1, tmp_path / "missing.log"], query, NAME)
    assert [e["message"] for e in got] == [
        "r1 down", "r0 boom", "Traceback (most recent call last):", "r1 late"]  # traceback keeps r0 boom's time
    assert [e["message"] for e in read_json_logs([r0, r1], query, NAME, limit=2)] == [
        "Traceback (most recent call last):", "r1 late"]
    assert read_json_logs([r0, r1], query, "other-app") == []
