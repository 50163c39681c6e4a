"""``keys create|revoke|ls`` and ``serve``: keys shown once, never their digests; a real uvicorn answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pepperpy.cloud.cli.keys import app as keys_app
from pepperpy.cloud.service.auth import KeyStore, digest

runner = CliRunner()


def test_keys_create_ls_revoke(home: Path) -> None:
    created = runner.invoke(keys_app, ["create", "dashboard", "--json"])
    assert created.exit_code == 0, created.output
    made = json.loads(created.stdout)
    assert made["key"].startswith("ppc_") and made["name"] == "dashboard"
    store = KeyStore()
    assert store.verify(made["key"]).id == made["id"]
    listed = runner.invoke(keys_app, ["ls"])
    assert made["id"] in listed.stdout and "active" in listed.stdout
    assert made["key"] not in listed.stdout and digest(made["key"]) not in listed.stdout
    as_json = json.loads(runner.invoke(keys_app, ["ls", "--json"]).stdout)
    assert as_json[0]["id"] == made["id"] and "digest" not in as_json[0] and "key" not in as_json[0]
    revoked = runner.invoke(keys_app, ["revoke", made["id"]])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert "revoked" in runner.invoke(keys_app, ["ls"]).stdout
    with pytest.raises(Exception, match="revoked"):
        store.verify(made["key"])


def test_keys_create_plain_prints_the_key_once(home: Path) -> None:
    out = runner.invoke(keys_app, ["create", "ci"])
    key = out.stdout.strip().splitlines()[0]
    assert key.startswith("ppc_") and out.stdout.count(key) == 1


def test_keys_revoke_unknown_id() -> None:
    from pepperpy.cloud.errors import NotFoundError

    result = runner.invoke(keys_app, ["revoke", "nosuchid"])
    assert isinstance(result.exception, NotFoundError)


def test_serve_module_starts_fast_without_fastapi() -> None:
    code = "import sys, pepperpy.cloud.cli.serve, pepperpy.cloud.cli.keys; print('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_unsafe_production(home: Path) -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "ALLOWED_ORIGINS": "*", "SECRET_KEY": "x" * 40}
    out = subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.serve", "--port", str(_free_port())],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0
    assert "ALLOWED_ORIGINS" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_real_uvicorn_smoke(home: Path) -> None:
    store = KeyStore()
    _, key = store.create("smoke")
    port = _free_port()
    env = {**os.environ, "ENVIRONMENT": "testing", "LOG_LEVEL": "info"}
    proc = subprocess.Popen([sys.executable, "-m", "pepperpy.cloud.cli.serve", "--port", str(port), "--host", "127.0.0.1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the service did not become ready in 30 s")
        r = httpx.post(base + "/v1/estimate", headers={"X-API-Key": key},
                       json={"provider": "aws", "resources": [{"type": "compute", "instance_type": "t3.large"}]})
        assert r.status_code == 200 and r.json()["total_monthly"] == "60.7360"
        assert r.headers["x-request-id"]
        assert httpx.post(base + "/v1/estimate", json={}).status_code == 401
        assert "pepperpy_service_requests_total" in httpx.get(base + "/metrics").text
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(x.get("operation") == "POST /v1/estimate" and x.get("status") == 200 for x in lines), output
    assert key not in output
