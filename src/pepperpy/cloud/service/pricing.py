"""The pricing work behind /v1/estimate, /v1/compare and /v1/instances, on the same functions as the CLI.

``CostEstimator`` prices, ``compare_rows`` (from ``cli/estimate.py``) marks the cheapest complete estimate,
``InstanceTable.search`` filters instances. What lives here is only the HTTP-shaped input (a stack as a JSON
object or YAML text instead of a file) and turning results into JSON-ready dicts.
"""

from __future__ import annotations

import warnings
from decimal import Decimal, InvalidOperation
from typing import Any

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.service.models import CompareRequest, EstimateRequest

CLOUDS = ("aws", "azure", "gcp")


def parse_stack(stack: dict[str, Any] | str) -> Any:
    """A validated ``Stack`` from a JSON object or YAML text; errors name the field path under ``stack``."""
    from pepperpy.cloud.spec.loader import load_yaml, validate
    from pepperpy.cloud.spec.stack import Stack

    data = load_yaml(stack, "stack") if isinstance(stack, str) else stack
    if not isinstance(data, dict):
        raise InputError("stack", "a stack must be a mapping with a name and services or components")
    return validate(Stack, data, "stack")


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` without its 'left unpriced' warnings: the response lists unpriced lines itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _price_resources(req: EstimateRequest) -> Any:
    from pepperpy.cloud.cost.estimator import CostEstimator

    resources = [r.model_dump(exclude_none=True) for r in req.resources or []]
    estimator = CostEstimator(req.provider or "aws")
    try:
        return _quiet(estimator.estimate_monthly_cost, resources, region=req.region, strict=req.strict)
    except (TypeError, ValueError, ArithmeticError) as exc:
        # A field of the wrong shape the estimator did not anticipate (e.g. a list where a size goes).
        raise InputError("resources", f"a resource has a value of the wrong kind: {exc}",
                         hint="see the resource types and fields in the README") from None


def estimate(req: EstimateRequest) -> dict[str, Any]:
    """One ``Estimate.to_dict()`` for the resources or the stack of ``req``."""
    from pepperpy.cloud.cost.estimator import CostEstimator

    if req.resources is not None:
        return dict(_price_resources(req).to_dict())
    assert req.stack is not None
    stack = parse_stack(req.stack)
    provider = req.provider or (stack.provider if stack.provider in CLOUDS else "aws")
    result = _quiet(CostEstimator(provider).estimate_stack, stack, region=req.region, strict=req.strict)
    return dict(result.to_dict())


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def compare(req: CompareRequest) -> dict[str, Any]:
    """Totals on AWS, Azure and GCP with the cheapest complete one marked, as ``pepperpy-cloud compare``."""
    from pepperpy.cloud.cli.estimate import compare_rows
    from pepperpy.cloud.cost.estimator import CostEstimator

    stack = parse_stack(req.stack)
    estimates = [_quiet(CostEstimator(p).estimate_stack, stack) for p in CLOUDS]
    rows = [{k: _text(v) for k, v in row.items()} for row in compare_rows(estimates)]
    return {"stack": stack.name, "rows": rows}


def instances(*, vcpus: float | None, memory: float | None, gpu: str | None, gpu_count: int | None,
              gpu_memory: float | None, max_price: str | None, spot: bool, provider: list[str] | None,
              region: list[str] | None, area: str | None, arch: str | None, limit: int) -> dict[str, Any]:
    """Cheapest fitting instances, checked the way ``pepperpy-cloud instances`` checks its options."""
    from pepperpy.cloud.catalog.query import InstanceQuery
    from pepperpy.cloud.catalog.store import default_catalog

    for p in provider or []:
        if p not in CLOUDS:
            raise NotFoundError("provider", p, "provider", suggestions=list(CLOUDS))
    price_cap = None
    if max_price is not None:
        try:
            price_cap = Decimal(max_price)
        except InvalidOperation:
            raise InputError("max_price", f"{max_price!r} is not a number of USD per hour") from None
        if not price_cap.is_finite() or price_cap < 0:
            raise InputError("max_price", f"{max_price!r} must be a finite number >= 0")
    table = default_catalog().instances
    if gpu and gpu.upper() not in table.gpu_codes:
        raise NotFoundError("gpu", gpu, "GPU model", suggestions=sorted(g for g in table.gpu_codes if g))
    query = InstanceQuery(vcpus=vcpus, memory_gib=memory, gpu=gpu, gpu_count=gpu_count, gpu_memory_gb=gpu_memory,
                          max_price=price_cap, providers=provider or None, regions=region or None, area=area,
                          pricing_models=("spot",) if spot else ("on_demand",), arch=arch)
    rows = table.search(query, limit=limit)
    return {"count": len(rows), "instances": [{**r.to_dict(), "monthly": str(r.monthly())} for r in rows]}
