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
    LOG_LEVEL      INFO by default; logs are JSON lines on stdout
    CHUNK_WORDS    target passage length in words (default 80)

The embedding is *lexical*: a hashed bag of words (signed feature hashing of
lower-cased word counts into 256 dimensions, sublinear term weights, L2
normalised). It needs no model download and is deterministic, so the example
runs anywhere and tests can predict its answers; it matches words, not
meanings. Swap :func:`embed` for a sentence-embedding model (and the column
dimension) for semantic search.

Run: ``uvicorn app:app --host 127.0.0.1 --port 8000`` or ``python app.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import queue
import re
import sys
import threading
import time
from collections import Counter as WordCounts
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pgvector import Vector
from pgvector.psycopg import register_vector
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

DIMENSIONS = 256
TABLE = "rag_passages"
CHUNK_WORDS = max(10, int(os.environ.get("CHUNK_WORDS", "80")))
_TOKEN = re.compile(r"[^\W_]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# Words too common to say what a passage is about; they would only add noise to the hash buckets.
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which", "who", "why", "with",
    "you", "your"})


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


# --------------------------------------------------------------------------- text -> vectors

def tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.casefold()) if t not in _STOPWORDS]


def embed(text: str) -> list[float]:
    """Hashed bag of words: each word adds ±(1 + log count) to one of 256 buckets; unit length.

    The sign bit halves the bias that two words sharing a bucket would add.
    An all-zero vector (text made only of stop words) is returned as is.
    """
    vector = [0.0] * DIMENSIONS
    for word, count in WordCounts(tokens(text)).items():
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        sign = -1.0 if digest >> 63 else 1.0
        vector[digest % DIMENSIONS] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def chunk(text: str, words: int = CHUNK_WORDS) -> list[str]:
    """Whole sentences packed into passages of about ``words`` words; over-long sentences are cut."""
    pieces: list[list[str]] = []
    for sentence in _SENTENCE.split(text.strip()):
        tokens_ = sentence.split()
        while len(tokens_) > words:
            pieces.append(tokens_[:words])
            tokens_ = tokens_[words:]
        if tokens_:
            pieces.append(tokens_)
    passages: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and len(current) + len(piece) > words:
            passages.append(" ".join(current))
            current = []
        current.extend(piece)
    if current:
        passages.append(" ".join(current))
    return passages


# --------------------------------------------------------------------------- database

class Database:
    """A few reusable connections to DATABASE_URL; a broken connection is dropped, never reused."""

    def __init__(self, url: str | None, size: int = 4) -> None:
        self.url = url
        self.size = size
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        if not self.url:
            raise RuntimeError("DATABASE_URL is not set")
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            conn.close()
            raise RuntimeError(
                "the vector extension is missing; create the database with extensions=['pgvector']") from None
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        healthy = False
        try:
            yield conn
            healthy = True
        finally:
            if healthy and not conn.closed and self._idle.qsize() < self.size:
                self._idle.put(conn)
            else:
                conn.close()

    def ensure_schema(self) -> None:
        """Create the passages table once; an advisory lock keeps two replicas from racing on DDL."""
        if self._schema_ready:
            return
        with self._schema_lock, self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
            conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {TABLE} (
                    id bigserial PRIMARY KEY,
                    doc_id text NOT NULL,
                    chunk_index integer NOT NULL,
                    content text NOT NULL,
                    embedding vector({DIMENSIONS}) NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (doc_id, chunk_index)
                )""")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_embedding_idx ON {TABLE} "
                         "USING hnsw (embedding vector_cosine_ops)")
        self._schema_ready = True

    def table_exists(self) -> bool:
        with self.connection() as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


db = Database(os.environ.get("DATABASE_URL"))


def database_errors(exc: Exception) -> HTTPException:
    """A 503 that names the failure but never the URL (it carries the password)."""
    log.error("database unavailable: %s", type(exc).__name__)
    return HTTPException(status_code=503, detail=f"database unavailable ({type(exc).__name__})")


# --------------------------------------------------------------------------- the app

@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    try:
        db.ensure_schema()
    except Exception as exc:  # not fatal: /ready says so and retries
        log.warning("schema not created at start-up: %s", type(exc).__name__)
    log.info("rag-app started")
    yield
    db.close()


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
    stored: list[dict[str, Any]] = []
    try:
        db.ensure_schema()
        with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for doc in body.documents:
                doc_id = doc.id or hashlib.sha256(doc.text.encode()).hexdigest()[:16]
                passages = chunk(doc.text)
                cur.execute(f"DELETE FROM {TABLE} WHERE doc_id = %s", (doc_id,))
                cur.executemany(
                    f"INSERT INTO {TABLE} (doc_id, chunk_index, content, embedding) VALUES (%s, %s, %s, %s)",
                    [(doc_id, i, text, Vector(embed(text))) for i, text in enumerate(passages)])
                stored.append({"id": doc_id, "passages": len(passages)})
    except (psycopg.Error, RuntimeError) as exc:
        raise database_errors(exc) from None
    DOCUMENTS.inc(len(stored))
    PASSAGES.inc(sum(d["passages"] for d in stored))
    return {"documents": stored, "passages": sum(d["passages"] for d in stored)}


@app.get("/ask")
def ask(q: str = Query(min_length=1, max_length=2000), top_k: int = Query(5, ge=1, le=50)) -> dict[str, Any]:
    query = embed(q)
    if not any(query):  # only stop words: nothing to match on
        return {"query": q, "top_k": top_k, "results": []}
    try:
        db.ensure_schema()
        with db.connection() as conn, conn.transaction():
            # hnsw returns at most ef_search rows; keep it above top_k.
            conn.execute(f"SET LOCAL hnsw.ef_search = {max(40, 2 * top_k)}")
            rows = conn.execute(
                f"SELECT doc_id, chunk_index, content, 1 - (embedding <=> %s) AS score FROM {TABLE} "
                "ORDER BY embedding <=> %s LIMIT %s", (Vector(query), Vector(query), top_k)).fetchall()
    except (psycopg.Error, RuntimeError) as exc:
        raise database_errors(exc) from None
    return {"query": q, "top_k": top_k,
            "results": [{"doc_id": d, "chunk": c, "text": t, "score": round(float(s), 6)} for d, c, t, s in rows]}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/ready")
def ready() -> JSONResponse:
    try:
        db.ensure_schema()
        if not db.table_exists():
            return JSONResponse({"status": "not ready", "reason": f"table {TABLE} is missing"}, status_code=503)
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
