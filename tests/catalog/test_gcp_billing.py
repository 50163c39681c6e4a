"""GCP Cloud Billing Catalog importer: decimal money, components, machine prices, paging."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from pepperpy.cloud.catalog.sources import get_source
from pepperpy.cloud.catalog.sources.gcp_billing import compose_machine, money


def test_units_plus_nanos_is_exact() -> None:
    assert money({"units": "2", "nanos": 933908000}) == Decimal("2.933908")
    assert money({"nanos": 31611000}) == Decimal("0.031611")


def test_component_skus_become_rows_per_region(fixtures: Path) -> None:
    rows = get_source("gcp-billing").load(file=fixtures / "gcp-billing-catalog-skus.json").rows
    by = {(r.sku, r.region, r.unit): r.price for r in rows}
    assert by[("a2-core", "us-central1", "hour")] == Decimal("0.031611")
    assert by[("a2-ram", "us-central1", "GiB-hour")] == Decimal("0.004237")
    assert by[("gpu-a100", "us-central1", "hour")] == Decimal("2.933908")
    assert {r.as_of.isoformat() for r in rows} == {"2023-03-24"}


def test_machine_price_is_cores_plus_memory_as_google_bills(fixtures: Path) -> None:
    rows = get_source("gcp-billing").load(file=fixtures / "gcp-billing-catalog-skus.json").rows
    vm = compose_machine(rows, machine_type="a2-highgpu-1g", family="a2", vcpus=12,
                         memory_gib=85, region="us-central1")
    assert vm.price == Decimal("0.739477")
    # SkyPilot's catalog lists the same VM at 0.73948 (rounded to 5 places).
    assert vm.price.quantize(Decimal("0.00001")) == Decimal("0.73948")


def test_paging_follows_next_page_token(price_server, fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    page = json.loads((fixtures / "gcp-billing-catalog-skus.json").read_text())
    skus = page["skus"]
    base = "/v1/services/6F81-5844-456A/skus"
    price_server.add(f"{base}?key=k", json.dumps({"skus": skus[:1], "nextPageToken": "p2"}))
    price_server.add(f"{base}?key=k&pageToken=p2", json.dumps({"skus": skus[1:], "nextPageToken": ""}))
    result = get_source("gcp-billing").load(url=f"{price_server.base}{base}?key=k")
    assert result.pages == 2
    assert {r.sku for r in result.rows} == {"a2-core", "a2-ram", "gpu-a100"}
