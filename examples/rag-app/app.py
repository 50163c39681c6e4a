"""A small retrieval service: ingest text documents into pgvector, ask for the closest passages.

Endpoints
    POST /ingest   {"documents": [{"id": "faq", "text": "..."}]} -> chunks, embeds and stores them
    GET  /ask      ?q=question&top_k=5 -> the top_k passages with their cosine similarity
    GET  /health   the process answers (liveness: restart me if this fails)
    GET  /ready    the database answers and the table exists (readiness: send me traffic)
    GET  /metrics  Prometheus text format

Configuration (environment)
    DATABASE_URL   postgresql://user:password@host:port/db with the ``vector`` extension created
                   (a PepperPy ``DatabaseResource(extensions=["pgvector"])`` does that)
    CONFIG_FILE    or a YAML file in seed 000's shape (``rag_pipeline.retriever.source``, ``top_k``);
                   a path that does not exist here (``/app/app_config.yaml`` in a container) is looked
                   up by its file name in the working directory, where ``additional_files`` land
    LOG_LEVEL      INFO by default; logs are JSON lines on stdout
    CHUNK_WORDS    target passage length in words (default 80)

The retrieval itself (chunking, embedding, pgvector) is ``pepperpy/rag`` in this folder.

The embedding is *lexical*: a hashed bag of words (signed feature hashing of
lower-cased word counts into 256 dimensions, sublinear term weights, L2
normalised). It needs no model download and is deterministic, so the example
runs anywhere and tests can predict its answers; it matches words, not
meanings. Swap :func:`embed` for a sentence-embedding model (and the column
dimension) for semantic search.

Run: ``uvicorn app:app --host 127.0.0.1 --port 8000`` or ``python app.py``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from pepperpy.rag import RAGPipeline

# --------------------------------------------------------------------------- logging

class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log collectors parse fields instead of guessing."""

    FIELDS = ("method", "path", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for key in self.FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(logger: logging.Logger) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


log = logging.getLogger("rag_app")
log.propagate = False
configure_logging(log)


# --------------------------------------------------------------------------- metrics

REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests", "HTTP requests by route and status", ["method", "path", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("http_request_duration_seconds", "HTTP request duration by route", ["method", "path"],
                    registry=REGISTRY)
DOCUMENTS = Counter("rag_documents_ingested", "Documents ingested", registry=REGISTRY)
PASSAGES = Counter("rag_passages_ingested", "Passages (chunks) stored", registry=REGISTRY)


def load_config() -> dict[str, Any]:
    """The ``rag_pipeline`` section of CONFIG_FILE, or {} without one; DATABASE_URL wins over its source."""
    name = os.environ.get("CONFIG_FILE")
    if not name:
        return {}
    path = Path(name)
    if not path.exists() and Path(path.name).exists():
        path = Path(path.name)
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    return dict(data.get("rag_pipeline") or {})


def make_pipeline() -> RAGPipeline:
    config = load_config()
    if os.environ.get("DATABASE_URL"):
        config.setdefault("retriever", {})["source"] = os.environ["DATABASE_URL"]
    return RAGPipeline.from_config(config)


pipeline = make_pipeline()


def database_errors(exc: Exception) -> HTTPException:
    """A 503 that names the failure but never the URL (it carries the password)."""
    log.error("database unavailable: %s", type(exc).__name__)
    return HTTPException(status_code=503, detail=f"database unavailable ({type(exc).__name__})")


# --------------------------------------------------------------------------- the app

@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    try:
        pipeline.db.ensure_schema()
    except Exception as exc:  # not fatal: /ready says so and retries
        log.warning("schema not created at start-up: %s", type(exc).__name__)
    log.info("rag-app started")
    yield
    pipeline.close()


app = FastAPI(title="PepperPy RAG example", lifespan=lifespan)


@app.middleware("http")
async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Count, time and log every request; the route template (not the raw URL) labels the metrics."""
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        elapsed = time.perf_counter() - start
        route = request.scope.get("route")
        label = getattr(route, "path", "<unmatched>")
        REQUESTS.labels(request.method, label, str(status)).inc()
        LATENCY.labels(request.method, label).observe(elapsed)
        log.log(logging.ERROR if status >= 500 else logging.INFO, "request",
                extra={"method": request.method, "path": request.url.path, "status": status,
                       "duration_ms": round(elapsed * 1000, 2)})


class Document(BaseModel):
    id: str | None = Field(None, max_length=200, description="re-ingesting an id replaces its passages")
    text: str = Field(min_length=1, max_length=2_000_000)


class IngestRequest(BaseModel):
    documents: list[Document] = Field(min_length=1, max_length=1000)


@app.post("/ingest")
def ingest(body: IngestRequest) -> dict[str, Any]:
    try:
        stored = pipeline.ingest([d.model_dump() for d in body.documents])
    except (psycopg.Error, RuntimeError) as exc:
        raise database_errors(exc) from None
    DOCUMENTS.inc(len(stored))
    PASSAGES.inc(sum(d["passages"] for d in stored))
    return {"documents": stored, "passages": sum(d["passages"] for d in stored)}


@app.get("/ask")
def ask(q: str = Query(min_length=1, max_length=2000), top_k: int = Query(5, ge=1, le=50)) -> dict[str, Any]:
    try:
        results = pipeline.retrieve(q, top_k)
    except (psycopg.Error, RuntimeError) as exc:
        raise database_errors(exc) from None
    return {"query": q, "top_k": top_k, "results": results}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/ready")
def ready() -> JSONResponse:
    try:
        reason = pipeline.ready()
        if reason:
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    except (psycopg.Error, RuntimeError) as exc:
        return JSONResponse({"status": "not ready", "reason": f"database unavailable ({type(exc).__name__})"},
                            status_code=503)
    return JSONResponse({"status": "ready"})


@app.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def main() -> None:
    """``python app.py``: uvicorn with every log line (its own included) as JSON on stdout."""
    import uvicorn

    configure_logging(logging.getLogger())
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")),
                log_config=None, access_log=False)


if __name__ == "__main__":
    main()
