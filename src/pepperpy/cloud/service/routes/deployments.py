"""/v1/deployments: the local provider's deployments (list, status, scale), as ``pepperpy-cloud ls|status|scale``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from pepperpy.cloud.service.models import (
    ERROR_RESPONSES,
    DeploymentsOut,
    DeploymentStatusOut,
    ScaleOut,
    ScaleRequest,
)
from pepperpy.cloud.service.state import authorize

router = APIRouter(prefix="/v1/deployments", tags=["deployments"], dependencies=[Depends(authorize)],
                   responses=ERROR_RESPONSES)
Name = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


def _runtime() -> Any:
    from pepperpy.cloud.providers.local.runtime import LocalRuntime

    return LocalRuntime()


def _list() -> dict[str, Any]:
    return {"deployments": _runtime().list_deployments()}


def _status(name: str) -> dict[str, Any]:
    return dict(_runtime().status(name))


def _scale(name: str, replicas: int) -> dict[str, Any]:
    result = _runtime().scale(name, replicas)
    return {"name": result.name, "url": result.url, "revision": result.revision, "replicas": result.replicas}


@router.get("", response_model=DeploymentsOut, summary="Deployments on this machine")
async def list_deployments() -> dict[str, Any]:
    return await run_in_threadpool(_list)


@router.get("/{name}", response_model=DeploymentStatusOut, summary="One deployment's replicas, revisions, events")
async def status(name: Name) -> dict[str, Any]:
    return await run_in_threadpool(_status, name)


@router.post("/{name}/scale", response_model=ScaleOut, summary="Set the replica count of a deployment")
async def scale(name: Name, body: ScaleRequest) -> dict[str, Any]:
    """Starts or drains replicas of the active revision; answers when the load balancer follows."""
    return await run_in_threadpool(_scale, name, body.replicas)
