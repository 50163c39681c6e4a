"""/v1/metrics/{deployment}: measured series of a deployment, as ``pepperpy-cloud metrics --json``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from pepperpy.cloud.service.models import ERROR_RESPONSES, MetricsOut
from pepperpy.cloud.service.state import authorize

router = APIRouter(prefix="/v1/metrics", tags=["monitor"], dependencies=[Depends(authorize)],
                   responses=ERROR_RESPONSES)
Since = Literal["5m", "15m", "30m", "1h", "3h", "6h", "12h", "24h", "7d", "30d"]


def _metrics(deployment: str, metric: list[str] | None, since: str) -> dict[str, Any]:
    from pepperpy.cloud.monitor.monitor import DEFAULT_METRICS, CloudMonitor
    from pepperpy.cloud.monitor.timerange import TimeRange

    result = CloudMonitor().get_metrics(deployment, metric or list(DEFAULT_METRICS), TimeRange.since(since))
    return dict(result.to_dict())


@router.get("/{deployment}", response_model=MetricsOut, summary="A deployment's measured metrics")
async def deployment_metrics(
    deployment: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")],
    metric: Annotated[list[str] | None, Query(max_length=20, description="repeat for several")] = None,
    since: Since = "1h",
) -> dict[str, Any]:
    """cpu_usage, memory_usage, requests_count, response_time by default; unknown names are 422."""
    return await run_in_threadpool(_metrics, deployment, metric, since)
