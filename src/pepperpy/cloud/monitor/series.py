"""What a metrics query returns: tidy series with units, convertible to a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np


@dataclass
class Series:
    """One metric of one resource over time: Unix-second timestamps and float values.

    Only measured points appear: a scrape that did not happen leaves a gap, never a guess.
    """

    metric: str
    resource: str
    unit: str
    timestamps: np.ndarray
    values: np.ndarray
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def __len__(self) -> int:
        return int(self.timestamps.size)

    @property
    def last(self) -> float | None:
        return float(self.values[-1]) if self.values.size else None

    def points(self) -> list[tuple[float, float]]:
        return list(zip(self.timestamps.tolist(), self.values.tolist(), strict=True))

    def stats(self) -> dict[str, float | None]:
        if not self.values.size:
            return {"last": None, "min": None, "max": None, "mean": None}
        return {"last": float(self.values[-1]), "min": float(self.values.min()),
                "max": float(self.values.max()), "mean": float(self.values.mean())}

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "resource": self.resource, "unit": self.unit, "labels": self.labels,
                "points": [[t, v] for t, v in self.points()]}


@dataclass
class MetricsResult:
    """The series ``CloudMonitor.get_metrics`` returns, in the order the metrics were asked for."""

    resource: str
    start: float
    end: float
    series: list[Series] = field(default_factory=list)
    source: str = "local"

    def __iter__(self) -> Iterator[Series]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, metric: str) -> Series:
        for s in self.series:
            if s.metric == metric:
                return s
        raise KeyError(metric)

    def metrics(self) -> list[str]:
        return [s.metric for s in self.series]

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows: one per point, with timestamp (UTC datetime), metric, resource, value, unit."""
        out: list[dict[str, Any]] = []
        for s in self.series:
            for t, v in s.points():
                out.append({"timestamp": datetime.fromtimestamp(t, UTC), "metric": s.metric,
                            "resource": s.resource, "value": v, "unit": s.unit, **s.labels})
        return out

    def to_pandas(self) -> Any:
        """A tidy DataFrame (needs pandas: ``pip install pepperpy-cloud[monitor]``)."""
        from pepperpy.cloud.errors import MissingDependencyError

        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise MissingDependencyError("pandas", "monitor") from exc
        rows = self.rows()
        if not rows:
            return pd.DataFrame(columns=["timestamp", "metric", "resource", "value", "unit"])
        return pd.DataFrame(rows)

    to_dataframe = to_pandas

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "start": self.start, "end": self.end, "source": self.source,
                "series": [s.to_dict() for s in self.series]}
