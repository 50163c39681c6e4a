"""/health (alive), /ready (dependencies answer) and /metrics (Prometheus): no API key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pepperpy.cloud import __version__
from pepperpy.cloud.service.metrics import CONTENT_TYPE
from pepperpy.cloud.service.models import HealthOut, ReadyOut
from pepperpy.cloud.service.state import service

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


async def _checks(request: Request) -> dict[str, str]:
    svc = service(request)
    checks: dict[str, str] = {}
    try:
        svc.keys.ping()
        checks["keys"] = "ok"
    except Exception as exc:
        checks["keys"] = f"error: {type(exc).__name__}"
    try:
        from pepperpy.cloud.catalog.store import default_catalog

        checks["catalog"] = "ok" if len(default_catalog().instances.rows) else "error: empty catalog"
    except Exception as exc:
        checks["catalog"] = f"error: {type(exc).__name__}"
    if svc.redis is not None:
        try:
            await svc.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    return checks


@router.get("/ready", response_model=ReadyOut, summary="Readiness: key store, catalog and Redis answer",
            responses={503: {"model": ReadyOut, "description": "a dependency is down"}})
async def ready(request: Request) -> JSONResponse:
    checks = await _checks(request)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus exposition of this worker's counters",
            response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    return Response(service(request).metrics.exposition(), media_type=CONTENT_TYPE)
