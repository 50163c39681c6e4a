"""/v1/estimate, /v1/compare and /v1/instances: pricing, cached (LRU, then Redis)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from pepperpy.cloud.service import pricing
from pepperpy.cloud.service.models import (
    ERROR_RESPONSES,
    Cloud,
    CompareOut,
    CompareRequest,
    EstimateOut,
    EstimateRequest,
    InstancesOut,
)
from pepperpy.cloud.service.state import authorize, cached_json, dumps

router = APIRouter(prefix="/v1", tags=["pricing"], dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)


@router.post("/estimate", response_model=EstimateOut, summary="Monthly cost of resources or a stack")
async def estimate(body: EstimateRequest, request: Request) -> Response:
    """Price seed-000 resource dicts, or a stack, on one cloud; every line cites its catalog row.

    Lines the catalog cannot price have ``monthly: null`` and are listed in ``unknown_items`` (never $0).
    """
    payload = body.model_dump(mode="json", exclude_none=True)

    async def compute() -> dict[str, object]:
        return pricing.estimate(body)

    return await cached_json(request, "estimate", payload, compute)


@router.post("/compare", response_model=CompareOut, summary="A stack's totals on AWS, Azure and GCP")
async def compare(body: CompareRequest, request: Request) -> Response:
    """On-demand, spot and commitment totals per cloud; the cheapest complete estimate is marked."""

    async def compute() -> dict[str, object]:
        return pricing.compare(body)

    return await cached_json(request, "compare", body.model_dump(mode="json"), compute)


@router.get("/instances", response_model=InstancesOut, summary="Cheapest instances that fit")
async def instances(
    vcpus: Annotated[float | None, Query(ge=0, le=10_000)] = None,
    memory: Annotated[float | None, Query(ge=0, le=100_000, description="GiB")] = None,
    gpu: Annotated[str | None, Query(max_length=32, description="T4, L4, A10G, A100, H100...")] = None,
    gpu_count: Annotated[int | None, Query(ge=1, le=64)] = None,
    gpu_memory: Annotated[float | None, Query(ge=0, le=10_000, description="GB as advertised")] = None,
    max_price: Annotated[str | None, Query(max_length=32, description="USD per hour")] = None,
    spot: bool = False,
    provider: Annotated[list[Cloud] | None, Query()] = None,
    region: Annotated[list[str] | None, Query(max_length=20)] = None,
    area: Annotated[str | None, Query(max_length=32, description="us, europe, asia...")] = None,
    arch: Annotated[str | None, Query(max_length=16, description="x86_64 or arm64")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Instances across clouds and regions, cheapest first, filtered like ``pepperpy-cloud instances``."""
    result = await run_in_threadpool(
        pricing.instances, vcpus=vcpus, memory=memory, gpu=gpu, gpu_count=gpu_count, gpu_memory=gpu_memory,
        max_price=max_price, spot=spot, provider=list(provider) if provider else None, region=region,
        area=area, arch=arch, limit=limit)
    return Response(dumps(result), media_type="application/json")
