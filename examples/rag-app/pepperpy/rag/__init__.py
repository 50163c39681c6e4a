"""The retrieval pipeline of the rag-app example: chunk, embed, store in pgvector, retrieve.

Seed 000's complete example imports ``from pepperpy.rag import RAGPipeline``, the RAG module of
the PepperPy framework, which PepperPy Cloud does not ship. This folder is a namespace portion of
``pepperpy`` that provides the small pipeline this example really runs, so that the seed's script
works as written from the example's folder (``PYTHONPATH=rag-app``) and the app shares the code.

``RAGPipeline.from_config(app_config["rag_pipeline"])`` takes the seed's configuration shape:
``retriever`` (``type: vector``, ``source``: a PostgreSQL URL with pgvector, ``top_k``) and
``generator`` (recorded; answering with an LLM is out of this example's scope, it returns passages).
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import re
import threading
from collections import Counter as WordCounts
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector

__all__ = ["RAGPipeline", "Database", "chunk", "embed", "tokens", "DIMENSIONS", "TABLE"]

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



class RAGPipeline:
    """Retrieve the passages closest to a question from documents ingested into pgvector."""

    def __init__(self, source: str | None, *, top_k: int = 5, generator: Mapping[str, Any] | None = None) -> None:
        self.db = Database(source)
        self.top_k = top_k
        self.generator = dict(generator or {})

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RAGPipeline:
        """From seed 000's ``rag_pipeline`` mapping (``retriever`` and ``generator``)."""
        retriever = dict(config.get("retriever") or {})
        kind = retriever.get("type", "vector")
        if kind != "vector":
            raise ValueError(f"retriever.type {kind!r} is not supported; use 'vector'")
        return cls(retriever.get("source"), top_k=int(retriever.get("top_k", 5)),
                   generator=config.get("generator"))

    def ingest(self, documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Store each ``{"id", "text"}`` as passages; re-ingesting an id replaces its passages."""
        stored: list[dict[str, Any]] = []
        self.db.ensure_schema()
        with self.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for doc in documents:
                text = str(doc["text"])
                doc_id = doc.get("id") or hashlib.sha256(text.encode()).hexdigest()[:16]
                passages = chunk(text)
                cur.execute(f"DELETE FROM {TABLE} WHERE doc_id = %s", (doc_id,))
                cur.executemany(
                    f"INSERT INTO {TABLE} (doc_id, chunk_index, content, embedding) VALUES (%s, %s, %s, %s)",
                    [(doc_id, i, p, Vector(embed(p))) for i, p in enumerate(passages)])
                stored.append({"id": doc_id, "passages": len(passages)})
        return stored

    def retrieve(self, question: str, top_k: int | None = None) -> list[dict[str, Any]]:
        """The ``top_k`` passages by cosine similarity, best first."""
        top_k = top_k or self.top_k
        query = embed(question)
        if not any(query):  # only stop words: nothing to match on
            return []
        self.db.ensure_schema()
        with self.db.connection() as conn, conn.transaction():
            # hnsw returns at most ef_search rows; keep it above top_k.
            conn.execute(f"SET LOCAL hnsw.ef_search = {max(40, 2 * top_k)}")
            rows = conn.execute(
                f"SELECT doc_id, chunk_index, content, 1 - (embedding <=> %s) AS score FROM {TABLE} "
                "ORDER BY embedding <=> %s LIMIT %s", (Vector(query), Vector(query), top_k)).fetchall()
        return [{"doc_id": d, "chunk": c, "text": t, "score": round(float(s), 6)} for d, c, t, s in rows]

    def ready(self) -> str | None:
        """None when the database answers and the table exists, else the reason."""
        self.db.ensure_schema()
        return None if self.db.table_exists() else f"table {TABLE} is missing"

    def close(self) -> None:
        self.db.close()
