"""Fixtures for the HTTP service: settings in the testing environment, an app, a client, a key, real Redis."""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydantic_settings")

REDIS_URL = "redis://127.0.0.1:6379/0"
# How this machine starts its Redis (see /work/.library/env/machines/python-svc.md).
REDIS_START = ("redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
               "--dir /var/lib/redis --logfile /var/log/redis/ci.log")


def make_settings(home: Path, **overrides: Any) -> Any:
    from pepperpy.cloud.service.settings import load_settings

    overrides.setdefault("keys_db", home / "service" / "keys.db")
    overrides.setdefault("log_level", "info")
    return load_settings(environment="testing", **overrides)


class Service:
    """An app, its TestClient, its log buffer and a valid key."""

    def __init__(self, home: Path, **overrides: Any) -> None:
        from fastapi.testclient import TestClient

        from pepperpy.cloud.service.app import create_app
        from pepperpy.cloud.service.auth import KeyStore

        self.settings = make_settings(home, **overrides)
        self.logs = io.StringIO()
        self.app = create_app(self.settings, log_stream=self.logs)
        self.keys = KeyStore(self.settings.keys_path())
        self.key_info, self.key = self.keys.create("tests")
        self.headers = {"X-API-Key": self.key}
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.keys.close()

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value from /metrics (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self.client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0


@pytest.fixture
def svc(home: Path) -> Iterator[Service]:
    service = Service(home)
    yield service
    service.close()


@pytest.fixture
def make_service(home: Path) -> Iterator[Any]:
    made: list[Service] = []

    def make(**overrides: Any) -> Service:
        service = Service(home, **overrides)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def _redis_ping() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis on 127.0.0.1:6379, started the way this machine starts it if it is down."""
    if not _redis_ping():
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(shlex.split(REDIS_START), check=False, capture_output=True, timeout=20)
        for _ in range(50):
            if _redis_ping():
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"Redis is not answering on 127.0.0.1:6379 and could not be started with: {REDIS_START}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    import redis

    prefix = f"pepperpy:test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()
