"""Opt-in live suite against real Google Cloud: runs only with PEPPERPY_GCP_LIVE=1 and credentials.

Needs GOOGLE_APPLICATION_CREDENTIALS (a service-account key) and a project (GOOGLE_CLOUD_PROJECT or the key's own),
with the Secret Manager and Cloud Run Admin APIs enabled. Creates a Secret Manager secret and a Cloud Run service
(Google's public hello image, 0-1 instances: no cost at rest) for a throw-away stack, applies them twice, checks the
labels and scaling, and deletes both. Region: PEPPERPY_GCP_REGION (default us-central1).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from pepperpy.cloud import GCPProvider
from pepperpy.cloud.providers.gcp import cloudrun, secret_manager
from pepperpy.cloud.providers.gcp.naming import GcpTarget
from pepperpy.cloud.providers.gcp.rest import GcpClient
from pepperpy.cloud.spec.stack import Service

pytestmark = pytest.mark.timeout(1200)


def _why_skip() -> str | None:
    if os.environ.get("PEPPERPY_GCP_LIVE") != "1":
        return "live GCP suite is opt-in: set PEPPERPY_GCP_LIVE=1 with GOOGLE_APPLICATION_CREDENTIALS"
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path or not os.path.isfile(path):
        return "PEPPERPY_GCP_LIVE=1 but GOOGLE_APPLICATION_CREDENTIALS does not name a key file"
    try:
        import google.auth  # noqa: F401
    except ImportError:
        return "google-auth is not installed (pip install 'pepperpy-cloud[gcp]')"
    return None


REASON = _why_skip()
if REASON:
    pytest.skip(REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[GcpClient, GcpTarget]]:
    provider = GCPProvider(region=os.environ.get("PEPPERPY_GCP_REGION", "us-central1"),
                           credentials_file=os.environ["GOOGLE_APPLICATION_CREDENTIALS"])
    client, project = GcpClient.for_provider(provider, poll_interval=3)
    target = GcpTarget(project, provider.region, f"pp-live-{uuid.uuid4().hex[:6]}")
    try:
        yield client, target
    finally:
        client.send(cloudrun.service(target, "hello", _hello()).delete)
        client.send(secret_manager.secret(target, "token").delete)
        client.close()


def _hello() -> Service:
    return Service(image="us-docker.pkg.dev/cloudrun/container/hello", port=8080, health_path="/",
                   readiness_path="/", replicas={"min": 0, "max": 1})


def test_secret_and_cloud_run_apply_twice_with_our_labels(live: tuple[GcpClient, GcpTarget]) -> None:
    client, target = live
    resources = [secret_manager.secret(target, "token"), cloudrun.service(target, "hello", _hello())]
    first = client.apply(resources, target.stack)
    assert len(first.created) == 2
    again = client.apply(resources, target.stack)
    assert again.created == [] and len(again.updated) == 2
    service = client.read(resources[1])
    assert service is not None and service["labels"] == target.labels
    assert service["template"]["scaling"].get("maxInstanceCount") == 1
