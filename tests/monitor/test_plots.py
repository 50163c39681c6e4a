"""plot_metrics: a real PNG and a self-contained plotly page, units made readable, gaps kept as gaps."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pepperpy.cloud.errors import InputError, MissingDependencyError
from pepperpy.cloud.monitor import plots
from pepperpy.cloud.monitor.plots import PlotFiles, axis_unit, insert_gaps, plot_metrics
from pepperpy.cloud.monitor.series import MetricsResult, Series

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def series(metric: str, unit: str, ts: Any, values: Any, resource: str = "web") -> Series:
    return Series(metric=metric, resource=resource, unit=unit, timestamps=np.asarray(ts, dtype=float),
                  values=np.asarray(values, dtype=float))


def result(*items: Series, start: float = T0, end: float = T0 + 900) -> MetricsResult:
    return MetricsResult(resource="web", start=start, end=end, series=list(items))


def steady(n: int = 40, step: float = 15.0) -> np.ndarray:
    return T0 + np.arange(n) * step


def plotly_call(html_text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(data, layout) as passed to Plotly.newPlot in plotly's to_html output."""
    decoder = json.JSONDecoder()

    def value_after_comma(pos: int) -> tuple[Any, int]:
        pos = html_text.index(",", pos) + 1
        while html_text[pos].isspace():
            pos += 1
        return decoder.raw_decode(html_text, pos)

    data, end = value_after_comma(html_text.index("Plotly.newPlot("))
    layout, _ = value_after_comma(end)
    return data, layout


def plotly_traces(html_text: str) -> list[dict[str, Any]]:
    return plotly_call(html_text)[0]


def subplot_titles(html_text: str) -> list[str]:
    return [a["text"] for a in plotly_call(html_text)[1].get("annotations", [])]


def read_png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    image: np.ndarray = mpimg.imread(path)
    return image


# --------------------------------------------------------------------------- gaps and units


def test_insert_gaps_puts_nan_across_missed_scrapes() -> None:
    ts = np.array([0.0, 15, 30, 45, 150, 165, 180])
    vs = np.arange(7.0)
    out_ts, out_vs = insert_gaps(ts, vs)
    assert out_ts.size == 8
    nan_at = np.flatnonzero(np.isnan(out_vs))
    assert nan_at.tolist() == [4]
    assert out_ts[4] == pytest.approx(97.5)  # midway, so both sides keep their real points
    assert out_vs[~np.isnan(out_vs)].tolist() == vs.tolist()


def test_insert_gaps_leaves_regular_and_tiny_series_alone() -> None:
    ts = steady(10)
    _, vs = insert_gaps(ts, np.ones(10))
    assert not np.isnan(vs).any()
    two_ts, two_vs = insert_gaps(np.array([0.0, 1000.0]), np.array([1.0, 2.0]))
    assert two_ts.tolist() == [0.0, 1000.0] and not np.isnan(two_vs).any()


def test_insert_gaps_sorts_by_time() -> None:
    ts, vs = insert_gaps(np.array([30.0, 0, 15]), np.array([3.0, 1, 2]))
    assert ts.tolist() == [0, 15, 30] and vs.tolist() == [1, 2, 3]


@pytest.mark.parametrize(("unit", "values", "label", "scale"), [
    ("bytes", [512 * 2**20], "MiB", 1 / 2**20),
    ("percent", [42.0], "%", 1.0),
    ("seconds", [0.12, 0.3], "ms", 1000.0),
    ("seconds", [0.5, 2.5], "s", 1.0),
    ("requests/s", [3.0], "requests/s", 1.0),
])
def test_axis_units(unit: str, values: list[float], label: str, scale: float) -> None:
    shown = axis_unit(unit, np.array(values))
    assert shown.label == label and shown.scale == pytest.approx(scale)


# --------------------------------------------------------------------------- files


def test_png_and_html_written_next_to_each_other(tmp_path: Path) -> None:
    ts = steady()
    data = result(series("cpu_usage", "percent", ts, np.linspace(10, 90, ts.size)),
                  series("memory_usage", "bytes", ts, np.full(ts.size, 300 * 2**20)))
    files = plot_metrics(data, tmp_path / "out" / "web.png")
    assert files == PlotFiles(png=tmp_path / "out" / "web.png", html=tmp_path / "out" / "web.html")

    raw = files.png.read_bytes()
    assert raw.startswith(PNG_MAGIC)
    width_in, height_in = plots.figure_size(2)
    image = read_png(files.png)
    assert image.shape[:2] == (round(height_in * plots.DPI), round(width_in * plots.DPI))
    assert image.std() > 0.01  # something was drawn, not a blank canvas
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_html_is_offline_and_carries_data_units_and_titles(tmp_path: Path) -> None:
    ts = steady(20)
    cpu = np.linspace(10, 90, ts.size)
    data = result(series("cpu_usage", "percent", ts, cpu),
                  series("memory_usage", "bytes", ts, np.full(ts.size, 300 * 2**20)))
    files = plot_metrics(data, tmp_path / "report.html")
    assert files.png == tmp_path / "report.png" and files.png.read_bytes().startswith(PNG_MAGIC)

    text = files.html.read_text(encoding="utf-8")
    assert "plotly.js v" in text and len(text) > 1_000_000  # the library itself is inlined
    assert "<script src=" not in text
    titles = subplot_titles(text)
    assert "web — cpu_usage (%)" in titles and "web — memory_usage (MiB)" in titles
    layout = plotly_call(text)[1]
    assert layout["yaxis"]["title"]["text"] == "%" and layout["yaxis2"]["title"]["text"] == "MiB"
    assert layout["xaxis2"]["title"]["text"] == "time (UTC)"
    traces = plotly_traces(text)
    assert [t["name"] for t in traces] == ["cpu_usage", "memory_usage"]
    assert traces[0]["y"] == pytest.approx(cpu.tolist())
    assert traces[1]["y"] == pytest.approx([300.0] * ts.size)  # bytes shown in MiB
    assert traces[0]["x"][0] == "2023-11-14 22:13:20.000000"  # UTC wall time


def test_gaps_stay_gaps_in_html(tmp_path: Path) -> None:
    ts = np.concatenate([steady(10), steady(10) + 600])
    files = plot_metrics(result(series("cpu_usage", "percent", ts, np.ones(ts.size))), tmp_path / "g.html")
    trace = plotly_traces(files.html.read_text(encoding="utf-8"))[0]
    assert trace["connectgaps"] is False
    assert len(trace["y"]) == 21 and trace["y"][10] is None


def test_sub_second_latency_in_ms(tmp_path: Path) -> None:
    ts = steady(5)
    files = plot_metrics(result(series("response_time", "seconds", ts, [0.1, 0.2, 0.15, 0.12, 0.3])),
                         tmp_path / "lat.png")
    text = files.html.read_text(encoding="utf-8")
    assert subplot_titles(text) == ["web — response_time (ms)"]
    assert plotly_traces(text)[0]["y"] == pytest.approx([100, 200, 150, 120, 300])


def test_empty_series_says_so_instead_of_a_line(tmp_path: Path) -> None:
    ts = steady(5)
    data = result(series("cpu_usage", "percent", ts, np.ones(5)),
                  series("errors_5xx", "requests", np.array([]), np.array([])))
    files = plot_metrics(data, tmp_path)
    text = files.html.read_text(encoding="utf-8")
    assert "no samples in range" in subplot_titles(text)
    assert [t["name"] for t in plotly_traces(text)] == ["cpu_usage"]  # no trace for the empty one
    assert read_png(files.png).shape[0] == round(plots.figure_size(2)[1] * plots.DPI)


def test_directory_and_default_locations(tmp_path: Path, home: Path) -> None:
    data = result(series("cpu_usage", "percent", steady(5), np.ones(5)))
    in_dir = plot_metrics(data, tmp_path)
    assert in_dir.png.parent == tmp_path and in_dir.html.parent == tmp_path
    assert re.fullmatch(r"web-\d{8}T\d{6}Z\.png", in_dir.png.name)
    assert in_dir.html.name == in_dir.png.name.replace(".png", ".html")

    default = plot_metrics(data)
    assert default.png.parent == home / "plots"
    assert default.png.is_file() and default.html.is_file()


def test_no_series_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        plot_metrics(result(), tmp_path / "x.png")
    assert err.value.field == "metrics"
    assert not list(tmp_path.iterdir())


def test_bad_suffix_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        plot_metrics(result(series("cpu_usage", "percent", steady(5), np.ones(5))), tmp_path / "x.pdf")
    assert err.value.field == "out"


@pytest.mark.parametrize("package", ["matplotlib", "plotly"])
def test_missing_library_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` raise ImportError
    with pytest.raises(MissingDependencyError) as err:
        plot_metrics(result(series("cpu_usage", "percent", steady(5), np.ones(5))), tmp_path / "x.png")
    assert package in str(err.value) and "pepperpy-cloud[monitor]" in str(err.value)
    assert not list(tmp_path.iterdir())  # neither file written


def test_png_breaks_the_line_at_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The line handed to matplotlib carries the NaN, so Agg leaves the hole."""
    from matplotlib.axes import Axes

    drawn: list[np.ndarray] = []
    original = Axes.plot

    def spy(self: Axes, *args: Any, **kwargs: Any) -> Any:
        drawn.append(np.asarray(args[1], dtype=float))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    ts = np.concatenate([steady(10), steady(10) + 600])
    plots.render_png(result(series("cpu_usage", "percent", ts, np.ones(ts.size))))
    assert len(drawn) == 1 and int(np.isnan(drawn[0]).sum()) == 1


def test_module_import_does_not_load_plotting_libraries() -> None:
    import subprocess

    code = ("import sys, pepperpy.cloud.monitor.plots, pepperpy.cloud.monitor.dashboards; "
            "print(sorted(m for m in ('matplotlib', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
