"""Shared fixtures: an isolated PEPPERPY_CLOUD_HOME and a local HTTP server for price pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


class PriceServer:
    """Serves registered pages on 127.0.0.1; records every path requested."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                status, body, ctype = routes.get(self.path, (404, b"not found", "text/plain"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: str | bytes, status: int = 200,
            ctype: str = "application/json") -> str:
        self.routes[path] = (status, body.encode() if isinstance(body, str) else body, ctype)
        return self.base + path

    def reset(self) -> None:
        self.routes.clear()
        self.requests.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def _price_server() -> Iterator[PriceServer]:
    server = PriceServer()
    yield server
    server.close()


@pytest.fixture
def price_server(_price_server: PriceServer) -> Iterator[PriceServer]:
    _price_server.reset()
    yield _price_server
    _price_server.reset()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own empty user data dir and a freshly loaded catalog."""
    from pepperpy.cloud.catalog.store import reset_default_catalog

    folder = tmp_path / "home"
    monkeypatch.setenv("PEPPERPY_CLOUD_HOME", str(folder))
    reset_default_catalog()
    yield folder
    reset_default_catalog()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
