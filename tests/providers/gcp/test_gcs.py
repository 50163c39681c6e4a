"""GCPProvider's object storage against a real gcp-storage-emulator: seed 000's snippets, convergence, cleanup,
credentials and errors."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud import GCPProvider, ResourceManager, StorageResource
from pepperpy.cloud.errors import InputError, NotSupportedError
from pepperpy.cloud.providers.gcp.storage import label_value
from pepperpy.cloud.resources.manager import JsonResourceStore
from pepperpy.cloud.resources.models import ComputeResource, ResourceError
from tests.providers.azure.throttle import ThrottlingProxy
from tests.providers.gcp.conftest import free_port
from tests.providers.gcp.fake_gcp import FakeGcpServer

pytestmark = pytest.mark.usefixtures("no_gcp_env")

# Seed 000, "Provedores de Nuvem": the GCP provider, verbatim.
SEED_PROVIDER = '''
from pepperpy.cloud import (
    CloudProvider,
    AWSProvider,
    AzureProvider,
    GCPProvider
)

# Configurar provedor GCP
gcp_provider = GCPProvider(
    region="us-central1",
    credentials_file="path/to/credentials.json"
)
'''

# Seed 000, "Gerenciamento de Recursos", verbatim; the seed names its provider aws_provider.
SEED_RESOURCES = '''
from pepperpy.cloud import (
    ResourceManager,
    StorageResource,
    DatabaseResource,
    ComputeResource
)

# Criar gerenciador de recursos
resource_manager = ResourceManager(provider=aws_provider)

# Provisionar armazenamento
storage = resource_manager.create_resource(
    StorageResource(
        name="pepperpy-data",
        type="object_storage",
        size="100Gi",
        access_policy="private"
    )
)

# Provisionar banco de dados
database = resource_manager.create_resource(
    DatabaseResource(
        name="pepperpy-vectors",
        type="postgres",
        version="14",
        size="small",
        storage="50Gi"
    )
)
'''

SEED_LIST = '''
# Listar recursos
resources = resource_manager.list_resources()
for resource in resources:
    print(f"{resource.name} ({resource.type}): {resource.status}")
'''


def unique(prefix: str = "pp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sdk_client(endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})


@pytest.fixture
def provider(gcs_emulator: str) -> GCPProvider:
    return GCPProvider(region="us-central1", endpoint_url=gcs_emulator, retry_backoff=0.05, retry_deadline=5)


@pytest.fixture
def manager(provider: GCPProvider) -> ResourceManager:
    return ResourceManager(provider=provider)


def test_seed_snippets_run_as_written_against_the_emulator(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # google-cloud-storage's own variable points every call at the emulator; the seed's file is then not read.
    # The database goes to Cloud SQL through the REST fake (PEPPERPY_GCP_API_ENDPOINT); see test_provider.py.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    fake = FakeGcpServer()
    monkeypatch.setenv("PEPPERPY_GCP_API_ENDPOINT", fake.url)
    ns: dict[str, Any] = {}
    exec(SEED_PROVIDER, ns)
    ns["aws_provider"] = ns["gcp_provider"]
    exec(SEED_RESOURCES, ns)
    assert ns["database"].connection_string.startswith("postgresql://pepperpy:")
    assert ns["storage"].url == "gs://pepperpy-data"
    bucket = sdk_client(gcs_emulator).get_bucket("pepperpy-data")
    assert bucket.labels == {"managed-by": "pepperpy-cloud", "pepperpy-resource": "pepperpy-data"}
    assert bucket.iam_configuration.uniform_bucket_level_access_enabled is True
    assert bucket.iam_configuration.public_access_prevention == "enforced"
    exec(SEED_LIST, ns)
    assert capsys.readouterr().out.splitlines() == ["pepperpy-data (object_storage): available",
                                                    "pepperpy-vectors (postgres): available"]
    exec('resource_manager.delete_resource("pepperpy-data")', ns)
    exec('resource_manager.delete_resource("pepperpy-vectors")', ns)
    assert sdk_client(gcs_emulator).lookup_bucket("pepperpy-data") is None
    assert ns["resource_manager"].list_resources() == [] and fake.api.resources() == []
    fake.close()


def test_create_is_idempotent_and_converges(manager: ResourceManager, gcs_emulator: str) -> None:
    name = unique()
    first = manager.create_resource(StorageResource(name=name, versioning=True))
    assert manager.create_resource(StorageResource(name=name, versioning=True)).url == first.url == f"gs://{name}"
    client = sdk_client(gcs_emulator)
    assert [b.name for b in client.list_buckets() if b.name == name] == [name]
    bucket = client.get_bucket(name)
    assert bucket.versioning_enabled is True
    bucket.labels = {**bucket.labels, "team": "search"}  # someone adds a label and turns versioning off
    bucket.versioning_enabled = False
    bucket.iam_configuration.public_access_prevention = "inherited"
    bucket.patch()
    manager.create_resource(StorageResource(name=name, versioning=True))
    bucket.reload()
    assert bucket.versioning_enabled is True and bucket.iam_configuration.public_access_prevention == "enforced"
    assert bucket.labels == {"team": "search", "managed-by": "pepperpy-cloud", "pepperpy-resource": name}
    manager.create_resource(StorageResource(name=name, versioning=True, access_policy="public-read"))
    members = [set(b["members"]) for b in bucket.get_iam_policy().bindings if b["role"] == "roles/storage.objectViewer"]
    assert members == [{"allUsers"}]
    manager.create_resource(StorageResource(name=name, versioning=True, access_policy="private"))
    assert not [b for b in bucket.get_iam_policy().bindings if "allUsers" in b["members"]]
    manager.delete_resource(name)


def test_delete_removes_every_object_and_the_bucket(manager: ResourceManager, provider: GCPProvider,
                                                    gcs_emulator: str) -> None:
    name = unique()
    manager.create_resource(StorageResource(name=name))
    bucket = sdk_client(gcs_emulator).bucket(name)
    for i in range(3):
        bucket.blob(f"docs/{i}.txt").upload_from_string(b"hello")
    manager.delete_resource(name)
    assert sdk_client(gcs_emulator).lookup_bucket(name) is None
    assert name not in provider.resources().managed_buckets()
    assert manager.list_resources() == []


def test_a_foreign_bucket_is_neither_adopted_nor_deleted(manager: ResourceManager, gcs_emulator: str) -> None:
    name = unique("theirs")
    bucket = sdk_client(gcs_emulator).create_bucket(name)
    bucket.blob("keep.txt").upload_from_string(b"theirs")
    with pytest.raises(InputError) as err:
        manager.create_resource(StorageResource(name=name))
    assert "GCS bucket" in str(err.value) and "not managed by pepperpy-cloud" in str(err.value)
    assert manager.list_resources() == []
    assert [b.name for b in sdk_client(gcs_emulator).list_blobs(name)] == ["keep.txt"]


@pytest.mark.parametrize("name", ["goog-data", "my-google-files", "g00gle-x"])
def test_names_gcs_rejects_fail_before_any_call(name: str) -> None:
    dead = GCPProvider(endpoint_url=f"http://127.0.0.1:{free_port()}", retry_deadline=1)
    with pytest.raises(InputError) as err:
        ResourceManager(provider=dead).create_resource(StorageResource(name=name))
    assert err.value.field == "name" and "not a valid GCS bucket name" in str(err.value)


def test_label_values_are_sanitized() -> None:
    assert label_value("My Deployment.v2") == "my-deployment-v2"
    assert len(label_value("x" * 100)) == 63


def test_other_kinds_are_refused_with_a_reason(manager: ResourceManager) -> None:
    with pytest.raises(NotSupportedError, match="Cloud Run"):
        manager.create_resource(ComputeResource(name=unique("fn")))
    assert manager.list_resources() == []


def test_unreachable_endpoint_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    manager = ResourceManager(provider=GCPProvider(endpoint_url=url, retry_backoff=0.05, retry_deadline=0.5))
    with pytest.raises(ResourceError) as err:
        manager.create_resource(StorageResource(name=unique()))
    text = str(err.value)
    assert text.startswith("GCP read bucket") and f"cannot reach {url}" in text and "\n" not in text
    assert manager.list_resources() == []


def test_missing_and_malformed_credentials_say_what_to_do(tmp_path: Path) -> None:
    # The seed's placeholder path, with no emulator: checked before any call.
    seed = GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")
    with pytest.raises(InputError) as err:
        ResourceManager(provider=seed).create_resource(StorageResource(name=unique()))
    assert err.value.field == "credentials_file" and "does not exist" in str(err.value)
    broken = tmp_path / "sa.json"
    broken.write_text('{"private_key": "-----BEGIN PRIVATE KEY-----abc"}')
    with pytest.raises(InputError) as err:
        ResourceManager(provider=GCPProvider(credentials_file=broken)).create_resource(StorageResource(name=unique()))
    assert "not a usable Google credentials JSON" in str(err.value) and "abc" not in str(err.value)
    with pytest.raises(InputError) as err:  # no file, no ADC, no metadata server
        ResourceManager(provider=GCPProvider()).create_resource(StorageResource(name=unique()))
    assert "no credentials found" in str(err.value) and "gcloud auth application-default login" in str(err.value)


class TokenServer:
    """A stand-in for Google's OAuth token endpoint on 127.0.0.1: grants or refuses every JWT."""

    def __init__(self, grant: bool) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.calls += 1
                body = ({"access_token": "ya29.very-secret-token", "expires_in": 3600, "token_type": "Bearer"}
                        if grant else {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                data = json.dumps(body).encode()
                self.send_response(200 if grant else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.calls = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def service_account(token_uri: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "pp-test", "private_key_id": "k1", "private_key": pem,
            "client_email": "pp@pp-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}


@pytest.fixture
def refusing_tokens() -> Iterator[TokenServer]:
    server = TokenServer(grant=False)
    yield server
    server.close()


@pytest.fixture
def granting_tokens() -> Iterator[TokenServer]:
    server = TokenServer(grant=True)
    yield server
    server.close()


def test_wrong_service_account_key_is_one_clear_line(tmp_path: Path, gcs_emulator: str,
                                                     refusing_tokens: TokenServer) -> None:
    key_file = tmp_path / "sa.json"
    info = service_account(refusing_tokens.url)
    key_file.write_text(json.dumps(info))
    # anonymous=False: the emulator address, but real credentials (a private endpoint, say)
    provider = GCPProvider(credentials_file=key_file, endpoint_url=gcs_emulator, anonymous=False,
                           retry_backoff=0.05, retry_deadline=1)
    manager = ResourceManager(provider=provider)
    with pytest.raises(InputError) as err:
        manager.create_resource(StorageResource(name=unique()))
    text = str(err.value)
    assert text.startswith("credentials: GCP read bucket") and "could not get an access token" in text
    assert "credentials file 'sa.json'" in text and "\n" not in text and "PRIVATE KEY" not in text
    assert refusing_tokens.calls >= 1 and manager.list_resources() == []


def test_credentials_never_reach_repr_records_or_logs(home: Path, gcs_emulator: str, granting_tokens: TokenServer,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    info = service_account(granting_tokens.url)
    provider = GCPProvider(credentials=info, endpoint_url=gcs_emulator, anonymous=False, retry_deadline=5)
    manager = ResourceManager(provider=provider, store=JsonResourceStore(home / "records.json"))
    name = unique()
    with caplog.at_level(logging.DEBUG):
        handle = manager.create_resource(StorageResource(name=name))
        manager.list_resources()
    assert granting_tokens.calls >= 1 and handle.details["project"] == "pp-test"
    assert handle.details["credential_source"] == "credentials dict"
    everything = "\n".join([repr(provider), json.dumps(provider.describe()), repr(handle), json.dumps(handle.to_dict()),
                            (home / "records.json").read_text(), caplog.text])
    secret_line = info["private_key"].splitlines()[1]
    assert secret_line not in everything and "very-secret-token" not in everything
    manager.delete_resource(name)


def test_throttling_is_retried_with_backoff(gcs_emulator: str) -> None:
    proxy = ThrottlingProxy(gcs_emulator, body=b'{"error": {"code": 429, "message": "rate limited"}}',
                            headers={"Content-Type": "application/json"})
    try:
        manager = ResourceManager(provider=GCPProvider(endpoint_url=proxy.base, retry_backoff=0.05, retry_deadline=5))
        name = unique()
        proxy.throttle = [429, 503, 429]
        assert manager.create_resource(StorageResource(name=name)).status == "available"
        assert proxy.throttled == 3 and proxy.forwarded >= 3
        proxy.throttle = [429] * 1000
        with pytest.raises(ResourceError) as err:
            ResourceManager(provider=GCPProvider(endpoint_url=proxy.base, retry_backoff=0.05, retry_deadline=0.5)
                            ).create_resource(StorageResource(name=unique()))
        assert "throttled by GCS (429)" in str(err.value)
        proxy.throttle = []
        manager.delete_resource(name)
    finally:
        proxy.close()
