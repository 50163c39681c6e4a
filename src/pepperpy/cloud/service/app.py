"""``create_app(settings)``: the FastAPI app; ``create_app_from_env`` is the factory uvicorn runs.

Layers, outside in: CORS (allowlist from ``ALLOWED_ORIGINS``) → request id, body limit, metrics and logs
(``middleware.py``) → FastAPI's routing and exception handlers (``errors.py``) → the routes, each /v1 route
behind ``authorize`` (API key, then rate limits). The dashboard's static files, when
``service/web/index.html`` exists, are served at ``/`` after every API route.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from pepperpy.cloud import __version__
from pepperpy.cloud.service import errors
from pepperpy.cloud.service.auth import KeyStore
from pepperpy.cloud.service.cache import ResponseCache
from pepperpy.cloud.service.logging import configure_logging
from pepperpy.cloud.service.metrics import ServiceMetrics
from pepperpy.cloud.service.middleware import RequestMiddleware
from pepperpy.cloud.service.ratelimit import InProcessLimiter, Limits, RateLimiter, RedisLimiter
from pepperpy.cloud.service.redis_client import RedisHandle
from pepperpy.cloud.service.settings import ServiceSettings, load_settings
from pepperpy.cloud.service.state import ServiceState

WEB_DIR = Path(__file__).parent / "web"
log = logging.getLogger("pepperpy.cloud.service.app")
DESCRIPTION = """Price architectures on AWS, Azure and GCP, ask pricing questions, and watch local deployments.

Every `/v1` route needs an API key (`pepperpy-cloud keys create NAME`), sent as `Authorization: Bearer ppc_...`
or `X-API-Key: ppc_...`. Errors are JSON: `{"error": {"type", "field", "message", "hint"}, "request_id"}`.
Money is a decimal string in USD."""


def _build_state(settings: ServiceSettings, metrics: ServiceMetrics) -> ServiceState:
    redis = RedisHandle(settings.redis_url.get_secret_value()) if settings.redis_url else None
    limits = Limits(settings.rate_limit_per_key, settings.rate_limit_per_key_burst,
                    settings.rate_limit_global, settings.rate_limit_global_burst)
    limiter: RateLimiter = (RedisLimiter(limits, redis, settings.redis_prefix, metrics) if redis
                            else InProcessLimiter(limits))
    cache = ResponseCache(metrics, size=settings.cache_size, ttl=settings.cache_ttl, redis=redis,
                          prefix=settings.redis_prefix)
    return ServiceState(settings, KeyStore(settings.keys_path()), limiter, cache, metrics, redis)


def _lifespan(state: ServiceState) -> object:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        from pepperpy.cloud.catalog.store import default_catalog

        await run_in_threadpool(default_catalog)  # load the price catalog before the first request
        log.info("service ready", extra={"component": "service", "operation": "startup"})
        yield
        if state.redis is not None:
            await state.redis.aclose()

    return lifespan


def _mount_web(app: FastAPI, web_dir: Path) -> None:
    """The dashboard at ``/``; its chart library comes from the installed plotly package (no CDN)."""
    if not (web_dir / "index.html").is_file():
        return
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.staticfiles import StaticFiles

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        found = _plotly_js()
        if found is None:  # the dashboard falls back to its own SVG charts
            return JSONResponse({"error": {"type": "NotFound", "message": "plotly is not installed"}},
                                status_code=404)
        return FileResponse(found, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")


def _plotly_js() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def create_app(settings: ServiceSettings | None = None, *, log_stream: IO[str] | None = None,
               web_dir: Path | None = None) -> FastAPI:
    """A ready-to-serve app for ``settings`` (default: ``load_settings()``)."""
    from pepperpy.cloud.service.routes import ROUTERS

    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.secret_values(), log_stream)
    metrics = ServiceMetrics()
    state = _build_state(settings, metrics)
    app = FastAPI(title="PepperPy Cloud", version=__version__, description=DESCRIPTION,
                  lifespan=_lifespan(state),  # type: ignore[arg-type]
                  docs_url="/docs" if settings.docs else None, redoc_url="/redoc" if settings.docs else None,
                  openapi_url="/openapi.json" if settings.docs else None)
    app.state.service = state
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    _mount_web(app, web_dir or WEB_DIR)
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body=settings.max_body_bytes)
    app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_credentials=False,
                       allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
                       expose_headers=["X-Request-ID", "Retry-After"], max_age=600)
    return app


def create_app_from_env() -> FastAPI:
    """The uvicorn factory: settings from the environment (``ENVIRONMENT``, ``PEPPERPY_SERVICE_CONFIG_DIR``...)."""
    return create_app(load_settings())
