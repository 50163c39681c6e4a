"""The public API: a curated __all__, lazy imports, redacted credentials."""

from __future__ import annotations

import subprocess
import sys

import pepperpy.cloud as cloud


def test_all_names_import() -> None:
    for name in cloud.__all__:
        assert getattr(cloud, name) is not None
    assert sorted(cloud.__all__) == cloud.__all__


def test_import_is_lazy() -> None:
    code = "import sys, pepperpy.cloud; print('numpy' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_seed_000_providers_and_credentials_are_redacted() -> None:
    from pepperpy.cloud import AWSProvider, AzureProvider, CloudProvider, GCPProvider

    aws = AWSProvider(region="us-west-2", credentials={"access_key_id": "AKIAEXAMPLEKEY1",
                                                       "secret_access_key": "s3cr3t-value-xyz"})
    azure = AzureProvider(region="eastus", credentials={"tenant_id": "t", "client_id": "c",
                                                        "client_secret": "az-secret-999"})
    gcp = GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")
    assert all(isinstance(p, CloudProvider) for p in (aws, azure, gcp))
    shown = " ".join([repr(aws), str(aws), repr(azure), str(aws.describe()), str(azure.describe()),
                      repr(aws.credentials)])
    for secret in ("AKIAEXAMPLEKEY1", "s3cr3t-value-xyz", "az-secret-999"):
        assert secret not in shown
    assert aws.credentials["secret_access_key"].reveal() == "s3cr3t-value-xyz"
    assert gcp.capabilities()["price"].supported
    assert all(cap.reason or name == "price" for name, cap in gcp.capabilities().items())  # each says why


def test_registry_by_name_and_alias() -> None:
    from pepperpy.cloud.providers.registry import get_provider

    assert get_provider("google", region="europe-west1").name == "gcp"
    assert get_provider("embedded").name == "local"
