"""A scripted HTTP server on 127.0.0.1 for the ARM and Google REST clients: answers in order, records requests.

Shared by the Azure and GCP client tests. ``server.route("PUT", "/path", (201, {...}, {"Retry-After": "0"}), ...)``
queues answers for a method and path (the query is ignored; the last answer repeats). Requests are kept with
their query, headers, JSON body and arrival time.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float


class FakeServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                server.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body,
                                        time.monotonic()))
                queue = server.routes.get((self.command, parts.path))
                status, payload, headers = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else (
                    404, {"error": {"code": "ResourceNotFound", "status": "NOT_FOUND"}}, {})
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value.replace("{base}", server.url))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def route(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [s for s in self.seen if (method is None or s.method == method) and (path is None or s.path == path)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeToken:
    """An azure-identity-like credential: ``get_token(scope)`` returns a fixed token and records the scopes."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, scope: str) -> Any:
        self.scopes.append(scope)
        return type("Token", (), {"token": "test-token", "expires_on": int(time.time()) + 3600})()


class FakeGoogleCredentials:
    """A google-auth-like credential that is always valid."""

    valid = True
    token = "test-token"
