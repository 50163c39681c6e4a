"""The embedded time-series store: append, compact into chunks, downsample, retention, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pepperpy.cloud.monitor.store import CHUNK, ROLLUP, MetricStore, downsample

T0 = 1_800_000_000.0 - (1_800_000_000.0 % CHUNK)  # an hour boundary


@pytest.fixture
def store(tmp_path: Path) -> MetricStore:
    with MetricStore(tmp_path / "m.db", raw_retention=2 * 86400, rollup_retention=10 * 86400) as s:
        yield s


def _fill(store: MetricStore, name: str, labels: dict[str, str], ts: np.ndarray, vals: np.ndarray) -> None:
    store.append([(name, labels, float(t), float(v)) for t, v in zip(ts, vals, strict=True)],
                 counters=frozenset({"c_total"}))


def test_samples_read_back_exactly_before_and_after_compaction(store: MetricStore) -> None:
    ts = T0 + np.arange(0, 3 * CHUNK, 10.0)
    vals = np.sin(ts / 1000) * 50 + 50
    _fill(store, "g", {"deployment": "a", "replica": "0"}, ts, vals)
    before = store.read("g", {"deployment": "a"}, T0, T0 + 3 * CHUNK)[0]
    moved = store.compact(now=T0 + 2 * CHUNK + 5)
    assert moved == 2 * CHUNK // 10  # two finished hours left the head
    assert store.count()["head_samples"] == CHUNK // 10
    after = store.read("g", {"deployment": "a"}, T0, T0 + 3 * CHUNK)[0]
    np.testing.assert_array_equal(before.timestamps, after.timestamps)
    np.testing.assert_array_equal(before.values, after.values)
    window = store.read("g", {"deployment": "a"}, T0 + 3000, T0 + 4000)[0]
    assert window.timestamps[0] >= T0 + 3000 and window.timestamps[-1] <= T0 + 4000
    assert window.timestamps.size == 101


def test_label_matching_separates_series(store: MetricStore) -> None:
    ts = T0 + np.arange(0, 60, 10.0)
    _fill(store, "g", {"deployment": "a", "replica": "0"}, ts, np.ones(6))
    _fill(store, "g", {"deployment": "a", "replica": "1"}, ts, np.ones(6) * 2)
    _fill(store, "g", {"deployment": "b", "replica": "0"}, ts, np.ones(6) * 3)
    assert sorted(s.values[0] for s in store.read("g", {"deployment": "a"}, T0, T0 + 60)) == [1, 2]
    assert store.label_values("g", "deployment") == ["a", "b"]


def test_downsampling_keeps_gauge_means_and_counter_last_values() -> None:
    ts = T0 + np.arange(0, 600, 10.0)
    gauge = np.arange(60, dtype=float)
    t, v = downsample(ts, gauge, ROLLUP, "gauge")
    assert t.tolist() == [T0 + 290, T0 + 590]  # stamped at the last real sample of each bucket
    assert v.tolist() == [gauge[:30].mean(), gauge[30:].mean()]
    t, v = downsample(ts, gauge, ROLLUP, "counter")
    assert v.tolist() == [29.0, 59.0]


def test_rollups_serve_long_ranges_and_retention_drops_old_chunks(store: MetricStore) -> None:
    ts = T0 + np.arange(0, 4 * 86400, 60.0)
    _fill(store, "c_total", {"deployment": "a"}, ts, np.arange(ts.size, dtype=float))
    store.compact(now=T0 + 4 * 86400)
    raw = store.read("c_total", {"deployment": "a"}, T0, T0 + 4 * 86400)[0]
    rolled = store.read("c_total", {"deployment": "a"}, T0, T0 + 4 * 86400, resolution=ROLLUP)[0]
    assert rolled.timestamps.size == ts.size // 5  # 4 days of 5-minute points survive
    assert rolled.values[-1] == raw.values[-1]  # counters keep their last value
    assert raw.timestamps[0] >= T0 + 4 * 86400 - 2 * 86400 - 2 * CHUNK  # raw kept for 2 days only
    assert rolled.timestamps[0] == T0 + 240  # rollups kept for 10 days


def test_late_samples_merge_into_a_compacted_hour(store: MetricStore) -> None:
    _fill(store, "g", {"deployment": "a"}, np.array([T0 + 10, T0 + 30]), np.array([1.0, 3.0]))
    store.compact(now=T0 + CHUNK + 1)
    _fill(store, "g", {"deployment": "a"}, np.array([T0 + 20]), np.array([2.0]))
    store.compact(now=T0 + CHUNK + 2)
    got = store.read("g", {"deployment": "a"}, T0, T0 + CHUNK)[0]
    assert got.values.tolist() == [1.0, 2.0, 3.0]
