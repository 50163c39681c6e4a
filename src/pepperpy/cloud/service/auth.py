"""API keys: ``ppc_<id>_<secret>``, shown once, stored only as a SHA-256 digest.

The secret part is 32 random bytes, so a plain SHA-256 is enough (a slow password hash protects low-entropy
secrets; this one cannot be guessed), and verifying costs one indexed SQLite read per request. ``SECRET_KEY``
is deliberately not mixed in: rotating it must not lock every client out. The id is public: it names the key
in ``keys ls``, ``keys revoke`` and the logs, so the key itself never has to be written anywhere.

The store is a SQLite file (``<home>/service/keys.db`` unless ``KEYS_DB`` says otherwise) shared by the CLI
and every service worker; WAL mode lets workers read while ``keys create|revoke`` writes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pepperpy.cloud.errors import InputError, NotFoundError, PepperpyCloudError

PREFIX = "ppc_"
KEY_PATTERN = re.compile(r"ppc_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{20,64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


class AuthError(PepperpyCloudError):
    """No key, an unknown key or a revoked key: 401, with what to do next."""

    http_status = 401
    exit_code = 2


def default_keys_path() -> Path:
    from pepperpy.cloud.catalog.store import home_dir

    return home_dir() / "service" / "keys.db"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the key, never its digest."""

    id: str
    name: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyStore:
    """Create, list, revoke and verify API keys in one SQLite file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_keys_path()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)
        self.path.chmod(0o600)

    def close(self) -> None:
        self._conn.close()

    def create(self, name: str) -> tuple[KeyInfo, str]:
        """A new key; the returned string is the only time the key exists in clear."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InputError("NAME", "a key needs a name of 1 to 100 characters (who or what uses it)")
        key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        info = KeyInfo(key_id, name, time.time(), None)
        with self._lock:
            self._conn.execute("INSERT INTO api_keys (id, name, digest, created_at) VALUES (?, ?, ?, ?)",
                               (info.id, info.name, digest(key), info.created_at))
        return info, key

    def list(self) -> list[KeyInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at").fetchall()
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke by id (or by the full key); idempotent; unknown ids are a NotFoundError."""
        if key_id.startswith(PREFIX) and key_id.count("_") >= 2:
            key_id = key_id.split("_")[1]
        with self._lock:
            self._conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               (time.time(), key_id))
            row = self._conn.execute("SELECT id, name, created_at, revoked_at FROM api_keys WHERE id = ?",
                                     (key_id,)).fetchone()
        if row is None:
            raise NotFoundError("KEY_ID", key_id, "API key id", suggestions=[k.id for k in self.list()][:5],
                                hint="list them with 'pepperpy-cloud keys ls'")
        return KeyInfo(*row)

    def verify(self, key: str | None) -> KeyInfo:
        """The key's record, or ``AuthError`` saying whether it was missing, unknown or revoked."""
        if not key:
            raise AuthError("missing API key", hint="send 'Authorization: Bearer ppc_...' or 'X-API-Key: ppc_...'; "
                                                    "create one with 'pepperpy-cloud keys create NAME'")
        if not KEY_PATTERN.fullmatch(key):
            raise AuthError("invalid API key", hint="keys look like ppc_<id>_<secret>")
        with self._lock:
            row = self._conn.execute("SELECT id, name, created_at, revoked_at FROM api_keys WHERE digest = ?",
                                     (digest(key),)).fetchone()
        if row is None:
            raise AuthError("invalid API key", hint="check the key, or create one with 'pepperpy-cloud keys create'")
        info = KeyInfo(*row)
        if not info.active:
            raise AuthError(f"API key {info.id} was revoked", hint="create a new one with 'pepperpy-cloud keys create'")
        return info

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchall()


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
    return None
