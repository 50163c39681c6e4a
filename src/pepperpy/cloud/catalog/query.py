"""Columnar instance queries: filter and sort by vCPUs, memory, GPU, price, provider, region.

Rows are held as NumPy columns sorted by hourly price (integer nano-dollars, so
the order is exact), which makes "the cheapest instance that fits" the first
row passing the filters: one vectorized mask and an ``argmax``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from pepperpy.cloud.catalog.regions import in_area
from pepperpy.cloud.catalog.row import PriceRow

NANO = Decimal(10**9)
GIB_IN_GB = 1.073741824


@dataclass(frozen=True)
class InstanceQuery:
    """What an instance must have; ``None`` means "any"."""

    vcpus: float | None = None
    memory_gib: float | None = None
    gpu: str | None = None
    gpu_count: int | None = None
    gpu_memory_gb: float | None = None
    max_price: Decimal | None = None
    providers: Sequence[str] | None = None
    regions: Sequence[str] | None = None
    area: str | None = None
    pricing_models: Sequence[str] = ("on_demand",)
    arch: str | None = None
    exclude_families: Sequence[str] = ()


class InstanceTable:
    """Compute rows as parallel arrays, cheapest first."""

    def __init__(self, rows: Sequence[PriceRow]) -> None:
        order = sorted(range(len(rows)), key=lambda i: (rows[i].price, rows[i].sku, rows[i].region))
        self.rows = [rows[i] for i in order]
        self._build()

    @classmethod
    def from_rows(cls, rows: Iterable[PriceRow]) -> InstanceTable:
        return cls([r for r in rows if r.vcpus is not None and r.unit == "hour"])

    def _codes(self, values: list[str]) -> tuple[np.ndarray, dict[str, int]]:
        vocabulary: dict[str, int] = {}
        codes = np.fromiter((vocabulary.setdefault(v, len(vocabulary)) for v in values),
                            dtype=np.int32, count=len(values))
        return codes, vocabulary

    def _build(self) -> None:
        rows = self.rows
        n = len(rows)
        self.vcpus = np.fromiter((r.vcpus or 0.0 for r in rows), dtype=np.float32, count=n)
        self.memory = np.fromiter((r.memory_gib or 0.0 for r in rows), dtype=np.float32, count=n)
        self.gpu_count = np.fromiter((r.gpu_count for r in rows), dtype=np.int32, count=n)
        # GPU memory is compared in decimal GB, rounded to 0.1, as vendors advertise it
        # (AWS reports an A10G as 22,888 MiB: "24 GB").
        self.gpu_memory = np.fromiter((round((r.gpu_memory_gib or 0.0) * GIB_IN_GB, 1) for r in rows),
                                      dtype=np.float32, count=n)
        self.price = np.fromiter((int(r.price * NANO) for r in rows), dtype=np.int64, count=n)
        self.provider, self.provider_codes = self._codes([r.provider for r in rows])
        self.region, self.region_codes = self._codes([r.region for r in rows])
        self.model, self.model_codes = self._codes([r.pricing_model for r in rows])
        self.gpu, self.gpu_codes = self._codes([r.gpu_model.upper() for r in rows])
        self.arch, self.arch_codes = self._codes([r.arch for r in rows])
        self.family, self.family_codes = self._codes([_family(r) for r in rows])

    def __len__(self) -> int:
        return len(self.rows)

    def _isin(self, column: np.ndarray, codes: dict[str, int], wanted: Iterable[str]) -> np.ndarray:
        ids = [codes[w] for w in wanted if w in codes]
        if len(ids) == 1:
            return column == ids[0]
        return np.isin(column, np.asarray(ids, dtype=np.int32))

    def mask(self, q: InstanceQuery) -> np.ndarray:
        m = np.ones(len(self.rows), dtype=bool)
        if q.vcpus is not None:
            m &= self.vcpus >= q.vcpus
        if q.memory_gib is not None:
            m &= self.memory >= q.memory_gib
        if q.gpu:
            m &= self._isin(self.gpu, self.gpu_codes, [q.gpu.upper()])
        if q.gpu_count is not None:
            m &= self.gpu_count >= q.gpu_count
        if q.gpu_memory_gb is not None:
            m &= self.gpu_memory >= q.gpu_memory_gb
        if q.max_price is not None:
            m &= self.price <= int(q.max_price * NANO)
        if q.providers:
            m &= self._isin(self.provider, self.provider_codes, q.providers)
        if q.regions:
            m &= self._isin(self.region, self.region_codes, q.regions)
        if q.area:
            keys = [code for code in self.region_codes
                    if any(in_area(p, code, q.area) for p in self.provider_codes)]
            m &= self._isin(self.region, self.region_codes, keys)
        m &= self._isin(self.model, self.model_codes, q.pricing_models)
        if q.arch:
            m &= self._isin(self.arch, self.arch_codes, [q.arch])
        if q.exclude_families:
            m &= ~self._isin(self.family, self.family_codes, q.exclude_families)
        return m

    def cheapest(self, q: InstanceQuery) -> PriceRow | None:
        """The cheapest row that fits, or None."""
        m = self.mask(q)
        i = int(np.argmax(m)) if len(m) else 0
        return self.rows[i] if len(m) and m[i] else None

    def search(self, q: InstanceQuery, limit: int = 20, *, distinct: bool = True) -> list[PriceRow]:
        """Rows that fit, cheapest first; ``distinct`` keeps one zone per (sku, region, model)."""
        out: list[PriceRow] = []
        seen: set[tuple[str, str, str, str]] = set()
        for i in np.flatnonzero(self.mask(q)):
            row = self.rows[int(i)]
            key = (row.provider, row.sku, row.region, row.pricing_model)
            if distinct and key in seen:
                continue
            seen.add(key)
            out.append(row)
            if len(out) >= limit:
                break
        return out


def _family(row: PriceRow) -> str:
    sku = row.sku
    if row.provider == "aws":
        return sku.split(".")[0]
    if row.provider == "gcp":
        return sku.split("-")[0]
    body = sku.removeprefix("Standard_")
    return body.rstrip("0123456789_v").split("_")[0] if body else body
