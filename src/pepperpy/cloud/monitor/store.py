"""The embedded time-series store: SQLite with a write head and compressed-free numpy chunks.

Why this shape: a 24-hour query over 10-second samples is ~8,640 points a series; reading
that as SQL rows costs ~1 µs a row in Python, so samples are appended to a small ``head``
table and, once their hour is over, compacted into one row per series and hour holding
the timestamps and values as packed float64 arrays (like Prometheus' blocks). Each
compaction also writes a downsampled chunk (``ROLLUP`` seconds: mean for gauges, last
value for counters) that long-range queries read. Retention drops raw chunks after
``raw_retention`` and rollups after ``rollup_retention``.

Only scraped samples are stored; nothing is interpolated. Several processes may write
(one collector per deployment) and read (CLI, monitor) at once: WAL mode and a busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pepperpy.cloud.catalog.store import home_dir

CHUNK = 3600
ROLLUP = 300
RAW_RETENTION = 7 * 86400
ROLLUP_RETENTION = 400 * 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, kind TEXT NOT NULL,
    UNIQUE (name, labels));
CREATE TABLE IF NOT EXISTS head (
    series_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    series_id INTEGER NOT NULL, resolution INTEGER NOT NULL, start REAL NOT NULL, n INTEGER NOT NULL,
    ts BLOB NOT NULL, val BLOB NOT NULL,
    PRIMARY KEY (series_id, resolution, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS budget_alerts (
    deployment TEXT NOT NULL, month TEXT NOT NULL, fired_at REAL NOT NULL, forecast TEXT NOT NULL,
    PRIMARY KEY (deployment, month));
"""

Sample = tuple[str, Mapping[str, str], float, float]


@dataclass
class SeriesData:
    """The stored samples of one raw series in a range."""

    name: str
    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


def _labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


def _pack(ts: np.ndarray, val: np.ndarray) -> tuple[bytes, bytes]:
    return ts.astype("<f8").tobytes(), val.astype("<f8").tobytes()


def _unpack(ts: bytes, val: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(ts, dtype="<f8"), np.frombuffer(val, dtype="<f8")


def downsample(ts: np.ndarray, val: np.ndarray, step: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """One point per ``step``-second bucket, stamped at the bucket's last real sample.

    Gauges keep the bucket mean, counters the last value (so increases stay exact).
    """
    if not ts.size:
        return ts, val
    buckets = np.floor(ts / step).astype(np.int64)
    edges = np.flatnonzero(np.diff(buckets)) + 1
    last = np.append(edges - 1, ts.size - 1)
    if kind == "counter":
        return ts[last], val[last]
    starts = np.insert(edges, 0, 0)
    sums = np.add.reduceat(val, starts)
    counts = np.diff(np.append(starts, ts.size))
    return ts[last], sums / counts


class MetricStore:
    """Append samples, compact them into chunks, read ranges back as numpy arrays."""

    def __init__(self, path: Path, *, raw_retention: float = RAW_RETENTION,
                 rollup_retention: float = ROLLUP_RETENTION) -> None:
        self.path = path
        self.raw_retention = raw_retention
        self.rollup_retention = rollup_retention
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._ids: dict[tuple[str, str], int] = {}

    @classmethod
    def open(cls) -> MetricStore:
        return cls(home_dir() / "monitor" / "metrics.db")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MetricStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    def _series_id(self, name: str, labels: Mapping[str, str], kind: str) -> int:
        key = (name, _labels_key(labels))
        found = self._ids.get(key)
        if found is None:
            self.db.execute("INSERT OR IGNORE INTO series (name, labels, kind) VALUES (?, ?, ?)", (*key, kind))
            row = self.db.execute("SELECT id FROM series WHERE name = ? AND labels = ?", key).fetchone()
            found = self._ids[key] = int(row[0])
        return found

    def append(self, samples: Iterable[Sample], counters: frozenset[str] = frozenset()) -> int:
        """Store samples ``(name, labels, ts, value)`` in one transaction; returns how many."""
        rows = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for name, labels, ts, value in samples:
                sid = self._series_id(name, labels, "counter" if name in counters else "gauge")
                rows.append((sid, float(ts), float(value)))
            self.db.executemany("INSERT OR REPLACE INTO head (series_id, ts, value) VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(rows)

    def compact(self, now: float | None = None) -> int:
        """Move head samples of finished hours into chunks (+ rollups); apply retention.

        Returns the number of samples compacted. Safe to run from several processes:
        the whole move is one write transaction.
        """
        now = time.time() if now is None else now
        boundary = (now // CHUNK) * CHUNK
        self.db.execute("BEGIN IMMEDIATE")
        try:
            rows = self.db.execute(
                "SELECT h.series_id, s.kind, h.ts, h.value FROM head h JOIN series s ON s.id = h.series_id "
                "WHERE h.ts < ? ORDER BY h.series_id, h.ts", (boundary,)).fetchall()
            groups: dict[tuple[int, str, float], list[tuple[float, float]]] = defaultdict(list)
            for sid, kind, ts, value in rows:
                groups[(sid, kind, (ts // CHUNK) * CHUNK)].append((ts, value))
            for (sid, kind, start), points in groups.items():
                self._write_chunk(sid, kind, start, points)
            self.db.execute("DELETE FROM head WHERE ts < ?", (boundary,))
            self.db.execute("DELETE FROM chunks WHERE resolution = 0 AND start < ?",
                            (now - self.raw_retention - CHUNK,))
            self.db.execute("DELETE FROM chunks WHERE resolution > 0 AND start < ?",
                            (now - self.rollup_retention - CHUNK,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(rows)

    def _write_chunk(self, sid: int, kind: str, start: float, points: list[tuple[float, float]]) -> None:
        ts = np.array([p[0] for p in points])
        val = np.array([p[1] for p in points])
        old = self.db.execute("SELECT ts, val FROM chunks WHERE series_id = ? AND resolution = 0 AND start = ?",
                              (sid, start)).fetchone()
        if old is not None:  # late samples for an already compacted hour
            old_ts, old_val = _unpack(*old)
            ts, idx = np.unique(np.concatenate([old_ts, ts]), return_index=True)
            val = np.concatenate([old_val, val])[idx]
        for resolution, (t, v) in ((0, (ts, val)), (ROLLUP, downsample(ts, val, ROLLUP, kind))):
            self.db.execute("INSERT OR REPLACE INTO chunks (series_id, resolution, start, n, ts, val) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (sid, resolution, start, int(t.size), *_pack(t, v)))

    # -- reading -------------------------------------------------------------------------

    def known(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether this exact series has been stored before."""
        key = (name, _labels_key(labels))
        return key in self._ids or self.db.execute(
            "SELECT 1 FROM series WHERE name = ? AND labels = ?", key).fetchone() is not None

    def find(self, name: str, match: Mapping[str, str]) -> list[tuple[int, dict[str, str], str]]:
        """Series of ``name`` whose labels include every ``match`` pair: (id, labels, kind)."""
        out = []
        for sid, labels, kind in self.db.execute("SELECT id, labels, kind FROM series WHERE name = ?", (name,)):
            parsed = json.loads(labels)
            if all(parsed.get(k) == v for k, v in match.items()):
                out.append((int(sid), parsed, str(kind)))
        return out

    def read(self, name: str, match: Mapping[str, str], start: float, end: float,
             resolution: int = 0) -> list[SeriesData]:
        """Samples of every matching series with ``start <= ts <= end``, oldest first."""
        out = []
        for sid, labels, kind in self.find(name, match):
            ts, val = self._read_one(sid, kind, start, end, resolution)
            out.append(SeriesData(name, labels, ts, val))
        return out

    def _read_one(self, sid: int, kind: str, start: float, end: float,
                  resolution: int) -> tuple[np.ndarray, np.ndarray]:
        parts_t: list[np.ndarray] = []
        parts_v: list[np.ndarray] = []
        for blob_t, blob_v in self.db.execute(
                "SELECT ts, val FROM chunks WHERE series_id = ? AND resolution = ? AND start > ? AND start <= ? "
                "ORDER BY start", (sid, resolution, start - CHUNK, end)):
            t, v = _unpack(blob_t, blob_v)
            parts_t.append(t)
            parts_v.append(v)
        head = self.db.execute("SELECT ts, value FROM head WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts",
                               (sid, start, end)).fetchall()
        if head:
            ht = np.array([h[0] for h in head])
            hv = np.array([h[1] for h in head])
            if resolution:
                ht, hv = downsample(ht, hv, resolution, kind)
            parts_t.append(ht)
            parts_v.append(hv)
        if not parts_t:
            return np.empty(0), np.empty(0)
        ts, val = np.concatenate(parts_t), np.concatenate(parts_v)
        keep = (ts >= start) & (ts <= end)
        return ts[keep], val[keep]

    def label_values(self, name: str, label: str) -> list[str]:
        """Distinct values of ``label`` across the series of ``name`` (e.g. deployments)."""
        values = {json.loads(labels).get(label) for (labels,) in
                  self.db.execute("SELECT labels FROM series WHERE name = ?", (name,))}
        return sorted(v for v in values if v)

    # -- what was measured: the deployment specs cost accrual needs after a ``down`` -------

    def remember_deployment(self, name: str, spec: Mapping[str, object], now: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO deployments (name, spec, updated) VALUES (?, ?, ?)",
                        (name, json.dumps(spec, sort_keys=True), now))

    def deployment_specs(self) -> dict[str, dict[str, Any]]:
        return {str(n): json.loads(s) for n, s in self.db.execute("SELECT name, spec FROM deployments")}

    def budget_alerted(self, deployment: str, month: str) -> bool:
        return self.db.execute("SELECT 1 FROM budget_alerts WHERE deployment = ? AND month = ?",
                               (deployment, month)).fetchone() is not None

    def record_budget_alert(self, deployment: str, month: str, now: float, forecast: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO budget_alerts (deployment, month, fired_at, forecast) "
                        "VALUES (?, ?, ?, ?)", (deployment, month, now, forecast))

    def count(self) -> dict[str, int]:
        head = self.db.execute("SELECT COUNT(*) FROM head").fetchone()[0]
        chunked = self.db.execute("SELECT COALESCE(SUM(n), 0) FROM chunks WHERE resolution = 0").fetchone()[0]
        series = self.db.execute("SELECT COUNT(*) FROM series").fetchone()[0]
        return {"series": int(series), "head_samples": int(head), "chunked_samples": int(chunked)}
