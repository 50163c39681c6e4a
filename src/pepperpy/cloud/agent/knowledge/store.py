"""The knowledge base: notes in ``notes/*.md``, searched by meaning or, without the model, by words.

Semantic mode embeds each note (title + body) with all-MiniLM-L6-v2 and keeps the
vectors in an embedded Qdrant collection (``QdrantClient(location=":memory:")``)
when ``qdrant-client`` is installed, else in a NumPy matrix (the same cosine
search). Lexical mode ranks with BM25. ``backend`` names what is active, e.g.
``"minilm+bm25+qdrant"`` (semantic and BM25 rankings fused), ``"minilm+bm25+numpy"`` or ``"bm25"``.

Notes are data, never instructions: their text is returned to the caller as
search results and nothing in them can cause a tool call.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

NOTES_DIR = Path(__file__).with_name("notes")
VECTORS_FILE = Path(__file__).with_name("vectors.npz")  # precomputed for the shipped notes


def _cache_file(digest: str) -> Path:
    from pepperpy.cloud.catalog.store import home_dir

    return home_dir() / "agent" / f"note-vectors-{digest}.npz"


@dataclass(frozen=True)
class Note:
    id: str
    title: str
    body: str

    def excerpt(self, limit: int = 400) -> str:
        text = " ".join(self.body.split())
        return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


@dataclass(frozen=True)
class Hit:
    note: Note
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.note.id, "title": self.note.title, "score": round(self.score, 4),
                "excerpt": self.note.excerpt()}


def parse_note(text: str, fallback_id: str) -> Note:
    """A note file: ``---`` front matter with ``id`` and ``title``, then markdown."""
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---"):
        head, _, body = text[3:].partition("\n---")
        for line in head.strip().splitlines():
            key, _, value = line.partition(":")
            meta[key.strip()] = value.strip()
    lines = [ln for ln in body.strip().splitlines() if not ln.startswith("# ")]
    return Note(meta.get("id", fallback_id), meta.get("title", fallback_id), "\n".join(lines).strip())


def load_notes(folder: Path = NOTES_DIR) -> list[Note]:
    return [parse_note(p.read_text(encoding="utf-8"), p.stem) for p in sorted(folder.glob("*.md"))]


class KnowledgeBase:
    """Search the notes; ``mode`` is "auto" (semantic when the model loads), "semantic" or "lexical"."""

    def __init__(self, notes: list[Note] | None = None, *, mode: str = "auto") -> None:
        self.notes = notes if notes is not None else load_notes()
        self.mode = os.environ.get("PEPPERPY_AGENT_RETRIEVAL", mode) if mode == "auto" else mode

    @cached_property
    def _encoder(self) -> Any:
        if self.mode == "lexical":
            return None
        from pepperpy.cloud.agent.knowledge.embeddings import load_encoder

        return load_encoder()

    @cached_property
    def _vectors(self) -> np.ndarray:
        """Note vectors: the shipped ``vectors.npz`` when it matches the notes, else computed (and cached)."""
        texts = [f"{n.title}. {n.body}" for n in self.notes]
        digest = hashlib.sha256("\x00".join([self._encoder.name, *texts]).encode()).hexdigest()[:16]
        for path in (VECTORS_FILE, _cache_file(digest)):
            try:
                with np.load(path) as stored:
                    if str(stored["digest"]) == digest:
                        return np.asarray(stored["vectors"])
            except (OSError, KeyError, ValueError):
                continue
        vectors = np.asarray(self._encoder.encode(texts))
        try:
            target = _cache_file(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            np.savez(target, digest=np.asarray(digest), vectors=vectors)
        except OSError:
            pass
        return vectors

    @cached_property
    def _qdrant(self) -> Any:
        """An in-memory Qdrant collection of the note vectors, or None without qdrant-client."""
        try:
            from qdrant_client import QdrantClient, models
        except ImportError:
            return None
        client = QdrantClient(location=":memory:")
        client.create_collection("notes", vectors_config=models.VectorParams(
            size=int(self._vectors.shape[1]), distance=models.Distance.COSINE))
        client.upsert("notes", points=[
            models.PointStruct(id=i, vector=vec.tolist(), payload={"id": n.id})
            for i, (n, vec) in enumerate(zip(self.notes, self._vectors, strict=True))])
        return client

    @cached_property
    def _bm25(self) -> Any:
        from pepperpy.cloud.agent.knowledge.lexical import BM25

        return BM25([f"{n.title} {n.title} {n.body}" for n in self.notes])

    @property
    def backend(self) -> str:
        if self._encoder is None:
            return "bm25"
        return "minilm+bm25+qdrant" if self._qdrant is not None else "minilm+bm25+numpy"

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` notes closest to ``query``, best first."""
        if not self.notes or not query.strip():
            return []
        k = max(1, min(k, len(self.notes)))
        if self._encoder is None:
            scores = self._bm25.scores(query)
            order = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
            return [Hit(self.notes[i], scores[i]) for i in order if scores[i] > 0]
        vector = self._encoder.encode([query])[0]
        if self._qdrant is not None:
            points = self._qdrant.query_points("notes", query=vector.tolist(), limit=len(self.notes)).points
            semantic = [(int(p.id), float(p.score)) for p in points]
        else:
            sims = self._vectors @ vector
            semantic = [(int(i), float(sims[i])) for i in np.argsort(-sims)]
        return self._fuse(semantic, self._bm25.scores(query))[:k]

    def _fuse(self, semantic: list[tuple[int, float]], lexical: list[float]) -> list[Hit]:
        """Reciprocal rank fusion (k=60) of the semantic and BM25 rankings; the score shown is the cosine.

        Names such as 'Glacier' or 'GiB' are matched better by words, paraphrases better by meaning.
        """
        lexical_rank = {i: r for r, i in enumerate(sorted(range(len(lexical)), key=lambda i: -lexical[i]))}
        fused = {i: 1 / (60 + r) + (1 / (60 + lexical_rank[i]) if lexical[i] > 0 else 0.0)
                 for r, (i, _) in enumerate(semantic)}
        cosine = dict(semantic)
        return [Hit(self.notes[i], cosine[i]) for i in sorted(fused, key=lambda i: -fused[i])]


_DEFAULT: KnowledgeBase | None = None


def default_knowledge() -> KnowledgeBase:
    """One knowledge base per process (embedding the notes once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = KnowledgeBase()
    return _DEFAULT
