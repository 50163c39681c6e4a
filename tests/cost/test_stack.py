"""Whole stacks: the seed 003 and 004 examples on every cloud, and stack validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pepperpy.cloud.cost.estimator import CostEstimator
from pepperpy.cloud.errors import InputError, SpecError
from pepperpy.cloud.spec.stack import Stack

STACKS = Path(__file__).parents[2] / "examples" / "stacks"


@pytest.mark.parametrize("name", ["bsc-rag.yaml", "kv-store.yaml"])
@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_example_stacks_estimate_on_every_cloud(name: str, provider: str) -> None:
    stack = Stack.from_file(STACKS / name)
    est = CostEstimator(provider).estimate_stack(stack)
    assert est.region == stack.regions[provider]
    assert est.total > 0
    priced = [i for i in est.items if i.monthly is not None]
    assert priced and all(i.rows for i in priced)
    for item in est.unknown:
        assert item.note  # every unpriced line says why


def test_kv_store_maps_seed_003_components_to_managed_services() -> None:
    stack = Stack.from_file(STACKS / "kv-store.yaml")
    est = CostEstimator("aws").estimate_stack(stack)
    services = {i.component: i.managed_service for i in est.items}
    assert services["kubernetes control plane"] == "Amazon EKS"
    assert services["redis"].startswith("Amazon ElastiCache")
    assert services["database"].startswith("Amazon RDS")
    assert services["broker"].startswith("Amazon MQ")
    api = next(i for i in est.items if i.component == "api")
    assert api.quantity == 3 * 730 and api.sku == "m5.large"
    eks = next(i for i in est.items if i.component == "kubernetes control plane")
    assert eks.monthly == Decimal("73.0")


def test_bsc_rag_colocated_qdrant_adds_no_machine() -> None:
    est = CostEstimator("aws").estimate_stack(Stack.from_file(STACKS / "bsc-rag.yaml"))
    assert "qdrant" not in {i.component for i in est.items}
    app = next(i for i in est.items if i.component == "app")
    assert app.sku == "t3.large"


def test_invalid_stack_names_field_path(tmp_path: Path) -> None:
    path = tmp_path / "pepperpy.yaml"
    path.write_text("name: demo\nservices:\n  app:\n    image: x:1\n    replicas: {min: 2, max: 1}\n")
    with pytest.raises(SpecError) as info:
        Stack.from_file(path)
    assert info.value.lines() == [f"{path}: services.app.replicas: max (1) must be >= min (2)"]


def test_duplicate_keys_and_bad_sizes_are_rejected(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: a\nname: b\nservices: {}\n")
    with pytest.raises(InputError, match="duplicate key 'name'"):
        Stack.from_file(dup)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\nservices:\n  app: {image: 'x:1', memory: lots}\n")
    with pytest.raises(SpecError, match="services.app.memory"):
        Stack.from_file(bad)
