"""gcp-storage-emulator for the GCS tests: one server process per session on 127.0.0.1, a free port, in memory.

Without the package the tests are skipped, except under ``CI=true``, where a
missing emulator is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + "; CI=true requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The emulator's base URL, e.g. ``http://127.0.0.1:40123``."""
    for module, package in (("google.cloud.storage", "google-cloud-storage"),
                            ("gcp_storage_emulator", "gcp-storage-emulator")):
        if importlib.util.find_spec(module) is None:
            _missing(f"{package} is not installed (pip install {package})")
    port = free_port()
    log_path: Path = tmp_path_factory.mktemp("gcs") / "emulator.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port",
                             str(port), "--in-memory"], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gcp-storage-emulator exited with {proc.returncode}: {log_path.read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("gcp-storage-emulator did not listen within 30 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def no_gcp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the developer's machine: no ADC file, no gcloud config, no metadata server."""
    for var in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT",
                "API_ENDPOINT_OVERRIDE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    dead = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("GCE_METADATA_HOST", dead)
    monkeypatch.setenv("GCE_METADATA_IP", dead)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    try:  # google-auth reads NO_GCE_CHECK once, at import
        from google.auth.compute_engine import _metadata
    except ImportError:
        return
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
