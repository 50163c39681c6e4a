"""AzureProvider's object storage against a real Azurite: seed 000's snippets, convergence, cleanup, errors."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from pepperpy.cloud import AzureProvider, ResourceManager, StorageResource
from pepperpy.cloud.errors import InputError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.resources.manager import JsonResourceStore
from pepperpy.cloud.resources.models import ComputeResource, DatabaseResource, ResourceError
from tests.providers.azure.conftest import KEY, Azurite, free_port
from tests.providers.azure.throttle import ThrottlingProxy

pytestmark = pytest.mark.usefixtures("no_azure_env")

# Seed 000, "Provedores de Nuvem": the Azure provider, verbatim.
SEED_PROVIDER = '''
from pepperpy.cloud import (
    CloudProvider,
    AWSProvider,
    AzureProvider,
    GCPProvider
)

# Configurar provedor Azure
azure_provider = AzureProvider(
    region="eastus",
    credentials={
        "tenant_id": "YOUR_TENANT_ID",
        "client_id": "YOUR_CLIENT_ID",
        "client_secret": "YOUR_CLIENT_SECRET"
    }
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


@pytest.fixture
def provider(azurite: Azurite) -> AzureProvider:
    return AzureProvider(region="eastus", endpoint_url=azurite.endpoint, max_retries=1)


@pytest.fixture
def manager(provider: AzureProvider) -> ResourceManager:
    return ResourceManager(provider=provider)


def test_seed_snippets_run_as_written_against_azurite(azurite: Azurite, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # The SDK's own variable points every Blob call at Azurite; the seed's service principal stays for ARM.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    ns: dict[str, object] = {}
    exec(SEED_PROVIDER, ns)
    ns["aws_provider"] = ns["azure_provider"]
    with pytest.raises(InputError) as refused:
        exec(SEED_RESOURCES, ns)
    # Storage ran as written; the database goes through ARM (test_provider_arm.py), which needs a subscription.
    assert refused.value.field == "subscription_id" and "AZURE_SUBSCRIPTION_ID" in str(refused.value)
    storage = ns["storage"]
    assert storage.url == f"{azurite.endpoint}/pepperpy-data"  # type: ignore[attr-defined]
    props = azurite.service().get_container_client("pepperpy-data").get_container_properties()
    assert props.metadata == {"managed_by": "pepperpy-cloud", "pepperpy_resource": "pepperpy-data"}
    assert props.public_access is None  # private
    exec(SEED_LIST, ns)
    assert capsys.readouterr().out.splitlines() == ["pepperpy-data (object_storage): available"]
    exec('resource_manager.delete_resource("pepperpy-data")', ns)
    assert "pepperpy-data" not in [c.name for c in azurite.service().list_containers()]
    assert ns["resource_manager"].list_resources() == []  # type: ignore[attr-defined]


def test_create_is_idempotent_and_converges_access(manager: ResourceManager, azurite: Azurite) -> None:
    name = unique()
    first = manager.create_resource(StorageResource(name=name))
    again = manager.create_resource(StorageResource(name=name))
    assert first.url == again.url and again.status == "available"
    assert [c.name for c in azurite.service().list_containers(name_starts_with=name)] == [name]
    client = azurite.service().get_container_client(name)
    manager.create_resource(StorageResource(name=name, access_policy="public-read"))
    assert client.get_container_properties().public_access == "blob"
    client.set_container_metadata({"owner": "someone"})  # drift: our tags removed by hand... and a foreign key
    with pytest.raises(InputError, match="not managed by pepperpy-cloud"):
        manager.create_resource(StorageResource(name=name))
    client.set_container_metadata({"owner": "someone", "managed_by": "pepperpy-cloud"})  # tag kept, name lost
    manager.create_resource(StorageResource(name=name, access_policy="private"))
    props = client.get_container_properties()
    assert props.public_access is None
    assert props.metadata == {"owner": "someone", "managed_by": "pepperpy-cloud", "pepperpy_resource": name}
    manager.delete_resource(name)


def test_delete_removes_the_container_and_its_blobs(manager: ResourceManager, provider: AzureProvider,
                                                    azurite: Azurite) -> None:
    name = unique()
    manager.create_resource(StorageResource(name=name, size="5Gi"))
    container = azurite.service().get_container_client(name)
    for i in range(3):
        container.upload_blob(f"docs/{i}.txt", b"hello")
    manager.delete_resource(name)
    assert name not in provider.resources().managed_containers()
    assert not container.exists()
    assert manager.list_resources() == []
    manager.create_resource(StorageResource(name=name))  # the name is free again
    assert list(container.list_blobs()) == []
    manager.delete_resource(name)


def test_a_foreign_container_is_neither_adopted_nor_deleted(manager: ResourceManager, azurite: Azurite) -> None:
    name = unique("theirs")
    container = azurite.service().create_container(name)
    container.upload_blob("keep.txt", b"theirs")
    with pytest.raises(InputError) as err:
        manager.create_resource(StorageResource(name=name))
    assert "Azure blob container" in str(err.value) and "\n" not in str(err.value)
    assert manager.list_resources() == []  # the placeholder record was removed
    assert [b.name for b in container.list_blobs()] == ["keep.txt"]
    container.delete_container()


def test_names_azure_rejects_fail_before_any_call() -> None:
    dead = AzureProvider(endpoint_url=f"http://127.0.0.1:{free_port()}/devstoreaccount1", max_retries=0)
    with pytest.raises(InputError) as err:
        ResourceManager(provider=dead).create_resource(StorageResource(name="pepperpy--data"))
    assert err.value.field == "name" and "Azure blob container name" in str(err.value)  # not "cannot reach"


def test_versioning_and_other_kinds_are_refused_with_a_reason(manager: ResourceManager) -> None:
    with pytest.raises(NotSupportedError, match="storage-account setting"):
        manager.create_resource(StorageResource(name=unique(), versioning=True))
    with pytest.raises(InputError, match="subscription_id: Azure Resource Manager calls need a subscription"):
        manager.create_resource(DatabaseResource(name=unique("db")))
    with pytest.raises(NotSupportedError, match="Azure cannot create serverless resources"):
        manager.create_resource(ComputeResource(name=unique("fn")))
    assert manager.list_resources() == []


def test_wrong_account_key_is_one_clear_line(azurite: Azurite) -> None:
    wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    provider = AzureProvider(endpoint_url=azurite.endpoint, credentials={"account_key": wrong}, max_retries=0)
    manager = ResourceManager(provider=provider)
    with pytest.raises(InputError) as err:
        manager.create_resource(StorageResource(name=unique()))
    text = str(err.value)
    assert text.startswith("credentials: Azure read blob container") and "authentication failed" in text
    assert "account key" in text and "fix:" in text and "\n" not in text and wrong not in text
    assert manager.list_resources() == []


def test_unreachable_endpoint_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    manager = ResourceManager(provider=AzureProvider(endpoint_url=url, max_retries=0, connection_timeout=2))
    with pytest.raises(ResourceError) as err:
        manager.create_resource(StorageResource(name=unique()))
    text = str(err.value)
    assert f"cannot reach {url}" in text and "Azurite" in text and "\n" not in text
    assert manager.list_resources() == []


def test_missing_or_incomplete_credentials_say_what_to_pass() -> None:
    with pytest.raises(InputError) as err:
        ResourceManager(provider=AzureProvider(credentials={"tenant_id": "t", "client_id": "c"})).create_resource(
            StorageResource(name=unique()))
    assert "missing client_secret" in str(err.value)
    with pytest.raises(InputError) as err:
        ResourceManager(provider=AzureProvider(credentials={"tenant_id": "t", "client_id": "c",
                                                            "client_secret": "s"})).create_resource(
            StorageResource(name=unique()))
    assert err.value.field == "storage_account" and "AZURE_STORAGE_ACCOUNT" in str(err.value)
    with pytest.raises(InputError, match="not an Azure storage account name"):
        ResourceManager(provider=AzureProvider(storage_account="Bad_Account")).create_resource(
            StorageResource(name=unique()))
    with pytest.raises(InputError) as err:
        ResourceManager(provider=AzureProvider(credentials={"connection_string": "AccountKey=s3cr3t"})
                        ).create_resource(StorageResource(name=unique()))
    assert "not a valid storage connection string" in str(err.value) and "s3cr3t" not in str(err.value)


def test_a_service_principal_over_plain_http_is_refused_in_one_line(azurite: Azurite) -> None:
    # Azure AD tokens are only ever sent over https; an emulator needs its key instead.
    url = azurite.endpoint.replace("devstoreaccount1", "other")
    provider = AzureProvider(credentials={"tenant_id": "t", "client_id": "c", "client_secret": "top-secret"},
                             endpoint_url=url, max_retries=0)
    with pytest.raises(PepperpyCloudError) as err:
        ResourceManager(provider=provider).create_resource(StorageResource(name=unique()))
    text = str(err.value)
    assert text.startswith("endpoint_url: Azure: tokens of the service principal are only sent over https")
    assert "\n" not in text and "top-secret" not in text


def test_credentials_never_reach_repr_records_or_logs(azurite: Azurite, home, caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    provider = AzureProvider(endpoint_url=azurite.endpoint, credentials={"account_key": KEY,
                                                                         "client_secret": "sp-secret"})
    store = JsonResourceStore(home / "records.json")
    manager = ResourceManager(provider=provider, store=store)
    name = unique()
    with caplog.at_level(logging.DEBUG):
        handle = manager.create_resource(StorageResource(name=name))
        manager.list_resources()
    everything = "\n".join([repr(provider), json.dumps(provider.describe()), repr(handle),
                            json.dumps(handle.to_dict()), (home / "records.json").read_text(), caplog.text])
    assert KEY not in everything and "sp-secret" not in everything
    assert caplog.text  # the SDK did log its requests: they just carry no key
    manager.delete_resource(name)


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[ThrottlingProxy]:
    server = ThrottlingProxy(azurite.endpoint, body=b"<?xml version=\"1.0\"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>",
                             headers={"x-ms-error-code": "ServerBusy", "Content-Type": "application/xml"})
    yield server
    server.close()


def test_throttling_is_retried_with_backoff(proxy: ThrottlingProxy) -> None:
    provider = AzureProvider(endpoint_url=f"{proxy.base}/devstoreaccount1", max_retries=3, retry_backoff=0)
    manager = ResourceManager(provider=provider)
    name = unique()
    proxy.throttle = [503, 429, 503]
    assert manager.create_resource(StorageResource(name=name)).status == "available"
    assert proxy.throttled == 3 and proxy.forwarded >= 2
    proxy.throttle = [503] * 20
    with pytest.raises(ResourceError) as err:
        ResourceManager(provider=AzureProvider(endpoint_url=f"{proxy.base}/devstoreaccount1", max_retries=1,
                                               retry_backoff=0)).create_resource(StorageResource(name=unique()))
    assert "throttled by Azure (ServerBusy)" in str(err.value)
    proxy.throttle = []
    manager.delete_resource(name)
