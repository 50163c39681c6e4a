"""A small, faithful OpenAI-compatible server (the API vLLM, llama.cpp's server and Ollama speak) on 127.0.0.1.

``/v1/models`` lists the served ids; ``/v1/chat/completions`` answers deterministically
by echoing the last user message, with OpenAI's response shape and token usage
(whitespace tokens). Knobs for the tests: a delay per completion, a required API key,
and a server-side count of requests in flight (the most seen at once is ``peak``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class OpenAIServer:
    def __init__(self, models: tuple[str, ...] = ("gpt-4", "llama-3.2-1b-instruct")) -> None:
        self.models = list(models)
        self.delay = 0.0
        self.api_key: str | None = None
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    self.close_connection = True

            def _authorized(self) -> bool:
                self_headers = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    server.headers.append(self_headers)
                if server.api_key and self_headers.get("authorization") != f"Bearer {server.api_key}":
                    self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                               "code": "invalid_api_key"}})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path != "/v1/models":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                             "owned_by": "test"} for m in server.models]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorized():
                    return
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with server._lock:
                    server.requests.append(body)
                    server.in_flight += 1
                    server.peak = max(server.peak, server.in_flight)
                try:
                    time.sleep(server.delay)
                    self._complete(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _complete(self, body: dict[str, Any]) -> None:
                if body.get("model") not in server.models:
                    self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    return
                prompt = body["messages"][-1]["content"]
                words = f"echo: {prompt}".split()
                limit = int(body.get("max_tokens") or 16)
                text = " ".join(words[:limit])
                prompt_tokens = sum(len(str(m["content"]).split()) for m in body["messages"])
                completion = min(len(words), limit)
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "length" if len(words) > limit else "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                              "total_tokens": prompt_tokens + completion}})

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer()
    yield server
    server.close()


class CloudFake:
    """A recording JSON HTTP server on 127.0.0.1 standing in for a cloud REST API.

    ``routes[(method, path)]`` is a list of ``(status, body)`` answers, used in order (the last one
    repeats); every request is kept as ``(method, path with query, headers, json body)``.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length) if length else b""
                fake.calls.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                   json.loads(raw) if raw else None))
                missing = {"error": {"code": "NotFound", "message": f"no route {self.command} {self.path}"}}
                answers = fake.routes.get((self.command, self.path.split("?")[0]), [(404, missing)])
                status, payload = answers.pop(0) if len(answers) > 1 else answers[0]
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def cloud_fake() -> Iterator[CloudFake]:
    server = CloudFake()
    yield server
    server.close()


def chat_answer(text: str) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "model": "gpt-4",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}}
