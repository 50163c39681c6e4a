"""The price catalog: the bundled snapshot merged with the user's imported prices.

Rows are indexed by (provider, service, sku) for the estimator's look-ups and
turned into a columnar :class:`~pepperpy.cloud.catalog.query.InstanceTable`
for instance queries. A row in the user cache (``catalog update``) replaces
the bundled row with the same key; the snapshot stays the fallback.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pepperpy.cloud.catalog.row import PriceRow

if TYPE_CHECKING:
    from pepperpy.cloud.catalog.query import InstanceTable

DATA_DIR = Path(__file__).with_name("data")


def home_dir() -> Path:
    """The user data dir: ``$PEPPERPY_CLOUD_HOME`` or ``~/.local/share/pepperpy-cloud``."""
    explicit = os.environ.get("PEPPERPY_CLOUD_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pepperpy-cloud"


def cache_dir() -> Path:
    return home_dir() / "catalog"


@dataclass(frozen=True)
class Coverage:
    provider: str
    service: str
    rows: int
    skus: int
    regions: int
    pricing_models: tuple[str, ...]
    oldest: date
    newest: date
    sources: tuple[str, ...]


class Catalog:
    """An immutable set of price rows with look-ups by provider, service, SKU and region."""

    def __init__(self, rows: Iterable[PriceRow], *, origins: Iterable[str] = ()) -> None:
        merged: dict[tuple[object, ...], PriceRow] = {}
        for row in rows:
            merged[row.key()] = row
        self.rows: list[PriceRow] = list(merged.values())
        self.origins = tuple(origins)
        self._by_sku: dict[tuple[str, str, str], list[PriceRow]] = defaultdict(list)
        for row in self.rows:
            self._by_sku[(row.provider, row.service, row.sku)].append(row)

    @classmethod
    def bundled(cls) -> Catalog:
        from pepperpy.cloud.catalog.sources.snapshot import load_snapshot

        return cls(load_snapshot(), origins=("bundled snapshot",))

    @classmethod
    def load(cls, *, include_cache: bool = True) -> Catalog:
        """The bundled snapshot, overridden by every file in the user's catalog cache."""
        from pepperpy.cloud.catalog.sources.normalized_csv import parse
        from pepperpy.cloud.catalog.sources.snapshot import load_snapshot

        rows = list(load_snapshot())
        origins = ["bundled snapshot"]
        folder = cache_dir()
        if include_cache and folder.is_dir():
            for path in sorted(folder.glob("*.csv")):
                rows.extend(parse(path.read_text(encoding="utf-8"), str(path)).rows)
                origins.append(str(path))
        return cls(rows, origins=origins)

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def instances(self) -> InstanceTable:
        from pepperpy.cloud.catalog.query import InstanceTable

        return InstanceTable.from_rows(r for r in self.rows if r.service == "compute")

    def find(self, provider: str, service: str, sku: str, *, region: str | None = None,
             pricing_model: str | None = "on_demand", unit: str | None = None) -> list[PriceRow]:
        """Rows for one SKU, cheapest zone first, tiers in order."""
        rows = [
            r for r in self._by_sku.get((provider, service, sku), ())
            if (region is None or r.region == region)
            and (pricing_model is None or r.pricing_model == pricing_model)
            and (unit is None or r.unit == unit)
        ]
        return sorted(rows, key=lambda r: (r.tier_start, r.price))

    def skus(self, provider: str, service: str, region: str | None = None) -> list[str]:
        return sorted({
            sku for (p, s, sku), rows in self._by_sku.items()
            if p == provider and s == service and (region is None or any(r.region == region for r in rows))
        })

    def regions(self, provider: str, service: str | None = None) -> list[str]:
        return self._regions.get((provider, service), [])

    @cached_property
    def _regions(self) -> dict[tuple[str, str | None], list[str]]:
        found: dict[tuple[str, str | None], set[str]] = defaultdict(set)
        for row in self.rows:
            found[(row.provider, row.service)].add(row.region)
            found[(row.provider, None)].add(row.region)
        return {key: sorted(regions) for key, regions in found.items()}

    def providers(self) -> list[str]:
        return sorted({r.provider for r in self.rows})

    def coverage(self) -> list[Coverage]:
        groups: dict[tuple[str, str], list[PriceRow]] = defaultdict(list)
        for row in self.rows:
            groups[(row.provider, row.service)].append(row)
        out = []
        for (provider, service), rows in sorted(groups.items()):
            out.append(Coverage(
                provider=provider, service=service, rows=len(rows),
                skus=len({r.sku for r in rows}), regions=len({r.region for r in rows}),
                pricing_models=tuple(sorted({r.pricing_model for r in rows})),
                oldest=min(r.as_of for r in rows), newest=max(r.as_of for r in rows),
                sources=tuple(sorted({_source_name(r.source) for r in rows})),
            ))
        return out


_DEFAULT: Catalog | None = None


def default_catalog() -> Catalog:
    """The bundled snapshot plus the user's cache, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Catalog.load()
    return _DEFAULT


def reset_default_catalog() -> None:
    """Forget the loaded catalog, e.g. after ``catalog update`` changed the cache."""
    global _DEFAULT
    _DEFAULT = None


def _source_name(source: str) -> str:
    """A short label: 'owner/repo .../file' for GitHub sources, the URL's host and path otherwise."""
    base = source.split("#")[0].split(" + ")[0]
    if base.startswith("github:"):
        path, _, commit = base.removeprefix("github:").partition("@")
        parts = path.split("/")
        return f"{'/'.join(parts[:2])} .../{parts[-1]}" + (f"@{commit[:8]}" if commit else "")
    return base


def closest(value: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Closest names by spelling, then by shared prefix, for 'did you mean' errors."""
    names = list(candidates)
    found = difflib.get_close_matches(value, names, n=n, cutoff=0.55)
    if len(found) < n:
        stem = value.split("-")[0].split(".")[0].split("_")[0].lower()
        found += [c for c in names if c.lower().startswith(stem) and c not in found][: n - len(found)]
    return found
