"""Opt-in live suite against real Azure Resource Manager: runs only with PEPPERPY_AZURE_LIVE=1 and credentials.

Needs AZURE_SUBSCRIPTION_ID and either AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET or an 'az login'
session. Creates a resource group, a storage account and a blob container for a throw-away stack (a few cents at
most), applies them twice (idempotence), checks the tags, and deletes the resource group. Region: PEPPERPY_AZURE_REGION
(default eastus).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from pepperpy.cloud.providers.azure import foundation
from pepperpy.cloud.providers.azure.arm import ArmClient
from pepperpy.cloud.providers.azure.naming import AzureTarget

pytestmark = pytest.mark.timeout(1200)


def _why_skip() -> str | None:
    if os.environ.get("PEPPERPY_AZURE_LIVE") != "1":
        return "live Azure suite is opt-in: set PEPPERPY_AZURE_LIVE=1 with AZURE_SUBSCRIPTION_ID and credentials"
    if not os.environ.get("AZURE_SUBSCRIPTION_ID"):
        return "PEPPERPY_AZURE_LIVE=1 but AZURE_SUBSCRIPTION_ID is not set"
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        return "azure-identity is not installed (pip install 'pepperpy-cloud[azure]')"
    return None


REASON = _why_skip()
if REASON:
    pytest.skip(REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ArmClient, AzureTarget]]:
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    target = AzureTarget(os.environ["AZURE_SUBSCRIPTION_ID"], os.environ.get("PEPPERPY_AZURE_REGION", "eastus"),
                         f"pp-live-{uuid.uuid4().hex[:6]}", tenant_id=os.environ.get("AZURE_TENANT_ID"))
    client = ArmClient(credential, source="DefaultAzureCredential", region=target.location, poll_interval=5)
    try:
        yield client, target
    finally:
        client.send(foundation.resource_group(target).delete())
        client.close()


def test_foundations_apply_twice_with_our_tags(live: tuple[ArmClient, AzureTarget]) -> None:
    client, target = live
    requests = [foundation.resource_group(target), foundation.storage_account_request(target),
                foundation.blob_container(target, "docs")]
    first = client.apply(requests, target.stack)
    assert [r.path for r in first.created] == [r.path for r in requests]
    again = client.apply(requests, target.stack)
    assert again.created == [] and len(again.updated) == 3
    account = client.send(requests[1].get())
    assert account is not None and account["tags"] == target.tags
    assert account["properties"]["minimumTlsVersion"] == "TLS1_2"
    assert account["properties"]["allowBlobPublicAccess"] is False
