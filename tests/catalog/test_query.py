"""The instance query engine agrees with a brute-force scan of the same rows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pepperpy.cloud.catalog.query import InstanceQuery, InstanceTable
from pepperpy.cloud.catalog.store import Catalog


@pytest.fixture(scope="module")
def table() -> InstanceTable:
    return Catalog.bundled().instances


def _brute(table: InstanceTable, q: InstanceQuery) -> list[tuple[str, str, str, Decimal]]:
    rows = [r for r in table.rows
            if (q.vcpus is None or (r.vcpus or 0) >= q.vcpus)
            and (q.memory_gib is None or (r.memory_gib or 0) >= q.memory_gib)
            and (q.gpu is None or r.gpu_model.upper() == q.gpu.upper())
            and (q.gpu_memory_gb is None or round((r.gpu_memory_gib or 0) * 1.073741824, 1) >= q.gpu_memory_gb)
            and (q.max_price is None or r.price <= q.max_price)
            and (not q.providers or r.provider in q.providers)
            and (not q.regions or r.region in q.regions)
            and r.pricing_model in q.pricing_models]
    return sorted((r.price, r.provider, r.sku, r.region) for r in rows)[:1]  # type: ignore[return-value]


@pytest.mark.parametrize("query", [
    InstanceQuery(vcpus=8, memory_gib=32),
    InstanceQuery(vcpus=2, memory_gib=4, providers=["azure"]),
    InstanceQuery(gpu="A10G"),
    InstanceQuery(gpu="H100", pricing_models=("spot",)),
    InstanceQuery(gpu_memory_gb=24, regions=["us-east-1", "us-central1", "eastus"]),
    InstanceQuery(vcpus=4, max_price=Decimal("0.2"), providers=["gcp", "aws"]),
])
def test_cheapest_fit_matches_brute_force(table: InstanceTable, query: InstanceQuery) -> None:
    best = table.cheapest(query)
    expected = _brute(table, query)
    assert best is not None and expected
    assert best.price == expected[0][0]  # ties may differ in name, never in price


def test_no_fit_returns_none(table: InstanceTable) -> None:
    assert table.cheapest(InstanceQuery(vcpus=100000)) is None
    assert table.search(InstanceQuery(gpu="NOPE")) == []


def test_search_is_sorted_distinct_and_limited(table: InstanceTable) -> None:
    rows = table.search(InstanceQuery(vcpus=2, pricing_models=("spot",)), limit=15)
    assert len(rows) == 15
    assert [r.price for r in rows] == sorted(r.price for r in rows)
    keys = [(r.provider, r.sku, r.region) for r in rows]
    assert len(keys) == len(set(keys))


def test_area_filter_keeps_only_that_area(table: InstanceTable) -> None:
    rows = table.search(InstanceQuery(vcpus=2, area="europe"), limit=50)
    assert rows and all(r.region.startswith(("eu", "europe", "westeurope", "northeurope"))
                        for r in rows)


def test_gpu_memory_is_compared_as_advertised_gb(table: InstanceTable) -> None:
    rows = table.search(InstanceQuery(gpu_memory_gb=24, providers=["aws"]), limit=100)
    assert "g5.xlarge" in {r.sku for r in rows}
    assert "g4dn.xlarge" not in {r.sku for r in rows}
