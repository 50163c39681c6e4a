"""Azurite (npm ``azurite``) for the Azure Blob tests: one server per session on 127.0.0.1, a free port.

The binary is looked up in the project's ``.npm-azurite/`` (``make validators``
installs it there) and then on PATH. Without it the tests are skipped, except
under ``CI=true``, where a missing emulator is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={self.endpoint};")

    def service(self):  # a plain SDK client, to check what the provider did
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)


def _binary() -> str | None:
    local = ROOT / ".npm-azurite" / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if local.exists() else shutil.which("azurite-blob")


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + "; CI=true requires it", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    try:
        import azure.storage.blob  # noqa: F401
    except ImportError:
        _missing("azure-storage-blob is not installed (pip install 'pepperpy-cloud[azure]')")
    binary = _binary()
    if binary is None:
        _missing("azurite-blob not found; run 'make validators' (npm install --prefix .npm-azurite azurite)")
    assert binary is not None
    folder = tmp_path_factory.mktemp("azurite")
    port = free_port()
    log = (folder / "azurite.log").open("wb")
    proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                             str(folder / "data"), "--silent", "--skipApiVersionCheck"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"azurite exited with {proc.returncode}: {(folder / 'azurite.log').read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("azurite did not listen within 30 s")
                time.sleep(0.1)
        yield Azurite(f"http://127.0.0.1:{port}/{ACCOUNT}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their credentials explicitly: nothing from the developer's environment."""
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_CLIENT_ID",
                "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake ARM, reached through PEPPERPY_AZURE_ARM_ENDPOINT; the service principal yields a fixed token."""
    import azure.identity

    from tests.providers.azure.fake_arm import FakeArm
    from tests.providers.azure.fake_http import FakeToken

    arm = FakeArm()
    monkeypatch.setenv("PEPPERPY_AZURE_ARM_ENDPOINT", arm.url)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setattr(azure.identity, "ClientSecretCredential", lambda *a, **k: FakeToken())
    yield arm
    arm.close()
