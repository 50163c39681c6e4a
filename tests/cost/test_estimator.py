"""CostEstimator: seed 000's snippet, published list prices, unknowns never $0, bad input."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from pepperpy.cloud.catalog.row import HOURS_PER_MONTH
from pepperpy.cloud.catalog.store import DATA_DIR
from pepperpy.cloud.cost.estimator import CostEstimator
from pepperpy.cloud.errors import InputError, NotFoundError


def _csv_price(cloud: str, instance: str, region: str) -> Decimal:
    """The published price straight from the bundled CSV, read without the project's code."""
    with open(DATA_DIR / "vms" / f"{cloud}.csv", newline="") as fh:
        prices = {Decimal(r["Price"]) for r in csv.DictReader(fh)
                  if r["InstanceType"] == instance and r["Region"] == region and r["Price"]}
    assert len(prices) == 1, prices
    return prices.pop()


def _services_price(provider: str, sku: str, region: str) -> Decimal:
    with open(DATA_DIR / "services.csv", newline="") as fh:
        (price,) = {Decimal(r["price"]) for r in csv.DictReader(fh)
                    if (r["provider"], r["sku"], r["region"], r["pricing_model"]) ==
                    (provider, sku, region, "on_demand")}
    return price


def test_seed_000_snippet_runs_as_written() -> None:
    from pepperpy.cloud import CostEstimator, GCPProvider

    gcp_provider = GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")
    cost_estimator = CostEstimator(provider=gcp_provider)
    with pytest.warns(UserWarning, match="db-standard-1.*closest: .*db-"):
        estimated_cost = cost_estimator.estimate_monthly_cost(
            resources=[
                {"type": "compute", "instance_type": "e2-standard-2", "count": 3},
                {"type": "storage", "size_gb": 100},
                {"type": "database", "instance_type": "db-standard-1", "size_gb": 50},
            ]
        )
    text = f"Custo mensal estimado: ${estimated_cost:.2f}"
    compute = 3 * HOURS_PER_MONTH * _csv_price("gcp", "e2-standard-2", "us-central1")
    storage = 100 * _services_price("gcp", "standard", "us-central1")
    db_storage = 50 * _services_price("gcp", "cloudsql-ssd-zonal", "us-central1")
    assert estimated_cost.total == compute + storage + db_storage
    assert text == f"Custo mensal estimado: ${compute + storage + db_storage:.2f}"
    (unknown,) = estimated_cost.unknown
    assert unknown.sku == "db-standard-1" and unknown.monthly is None
    lines = {i.component: i for i in estimated_cost.items}
    assert lines["compute-0"].rows[0].sku == "e2-standard-2"
    assert lines["compute-0"].rows[0].source.startswith("github:skypilot-org/skypilot-catalog")


@pytest.mark.parametrize(("provider", "instance", "region"), [
    ("aws", "t3.medium", "us-east-1"), ("aws", "m5.large", "us-west-2"),
    ("aws", "g5.xlarge", "us-east-1"), ("gcp", "n2-standard-4", "europe-west1"),
    ("gcp", "e2-medium", "southamerica-east1"), ("azure", "Standard_D2s_v3", "eastus"),
    ("azure", "Standard_B2s", "westus2"),
])
def test_instance_estimates_equal_published_list_prices(provider: str, instance: str, region: str) -> None:
    est = CostEstimator(provider, region=region).estimate_monthly_cost(
        [{"type": "compute", "instance_type": instance, "count": 2}])
    price = _csv_price(provider, instance, region)
    assert est.items[0].unit_price == price
    assert est.total == price * 2 * HOURS_PER_MONTH


def test_azure_short_names_are_accepted() -> None:
    est = CostEstimator("azure").estimate_monthly_cost([{"type": "compute", "instance_type": "B2s"}])
    assert est.items[0].sku == "Standard_B2s" and est.complete


def test_spot_and_reserved_alternatives_come_from_their_own_rows() -> None:
    est = CostEstimator("aws", region="us-east-1").estimate_monthly_cost(
        [{"type": "compute", "instance_type": "t3.medium"}])
    item = est.items[0]
    assert item.alternatives["spot"].row.pricing_model == "spot"
    assert item.alternatives["reserved_3y"].row.price == Decimal("0.018")
    assert est.savings()["spot"] == item.monthly - item.alternatives["spot"].monthly
    assert "reserved_1y" not in item.alternatives  # no published row: not guessed


def test_cheapest_fit_when_no_instance_type_is_named() -> None:
    est = CostEstimator("gcp").estimate_monthly_cost(
        [{"type": "compute", "vcpus": 4, "memory_gb": "16Gi"}])
    row = est.items[0].rows[0]
    assert row.vcpus >= 4 and row.memory_gib >= 16 and est.items[0].note == "cheapest fit"


def test_tiered_egress_is_summed_per_tier() -> None:
    est = CostEstimator("aws").estimate_monthly_cost([{"type": "egress", "gb": 20480}])
    assert est.total == 10240 * Decimal("0.09") + 10240 * Decimal("0.085")


def test_unknown_region_lists_closest() -> None:
    with pytest.raises(NotFoundError, match="closest: .*us-east-1"):
        CostEstimator("aws", region="us-east-9").estimate_monthly_cost([])


def test_strict_mode_raises_on_unknown_sku() -> None:
    with pytest.raises(NotFoundError, match="closest: .*m5.large"):
        CostEstimator("aws").estimate_monthly_cost(
            [{"type": "compute", "instance_type": "m5.larg"}], strict=True)


def test_instance_known_elsewhere_is_unpriced_with_the_regions_that_have_it() -> None:
    est = CostEstimator("aws", region="ap-southeast-1").estimate_monthly_cost(
        [{"type": "compute", "instance_type": "p5.48xlarge"}])
    (item,) = est.unknown
    assert "priced in" in item.note and "us-east-1" in item.note


@pytest.mark.parametrize(("resource", "field"), [
    ({"type": "compute", "instance_type": "t3.medium", "count": -1}, "resources[0].count"),
    ({"type": "storage", "size_gb": "lots"}, "resources[0].size_gb"),
    ({"type": "warehouse"}, "resources[0].type"),
    ({"type": "storage"}, "resources[0].size_gb"),
])
def test_bad_resources_name_the_field(resource: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError) as info:
        CostEstimator("aws").estimate_monthly_cost([resource])
    assert str(info.value).startswith(field)


@pytest.mark.parametrize("size", ["100Gi", "100GB", 100, "100"])
def test_sizes_in_any_spelling(size: object) -> None:
    est = CostEstimator("aws").estimate_monthly_cost([{"type": "storage", "size_gb": size}])
    assert est.total == 100 * Decimal("0.023")


def test_local_provider_prices_as_its_cloud() -> None:
    from pepperpy.cloud import LocalProvider

    est = CostEstimator(LocalProvider(price_as="gcp")).estimate_monthly_cost(
        [{"type": "compute", "instance_type": "e2-standard-2"}])
    assert est.provider == "gcp" and est.region == "us-central1" and est.complete
