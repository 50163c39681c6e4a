"""Artifact Registry: the Docker repository a stack's source-built images are pushed to.

One repository per stack, ``<region>-docker.pkg.dev/<project>/<stack>``, labelled like
every other part; an image is ``<repository>/<service>:<stack version>``. Whether it
was pushed is read from the tag (``packages/<service>/tags/<version>``): building and
pushing needs Docker, which this tool does not drive.
"""

from __future__ import annotations

from pepperpy.cloud.providers.gcp.naming import GcpTarget, check_region
from pepperpy.cloud.providers.gcp.rest import GcpRequest, GcpResource

HOST = "artifactregistry.googleapis.com"


def repository_id(target: GcpTarget) -> str:
    return target.stack


def image(target: GcpTarget, service: str, version: str) -> str:
    """The image reference a source-built service runs."""
    return f"{target.region}-docker.pkg.dev/{target.project}/{repository_id(target)}/{service}:{version}"


def repository(target: GcpTarget) -> GcpResource:
    """Create (POST ``?repositoryId=``, long-running), read and delete the stack's Docker repository."""
    check_region(target.region, "Artifact Registry")
    rid = repository_id(target)
    base = f"/v1/{target.parent}/repositories"
    body = {"format": "DOCKER", "labels": target.labels,
            "description": f"pepperpy-cloud images of stack {target.stack}"}
    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (("repositoryId", rid),), "create Artifact Registry repository",
                          rid, "google"),
        read=GcpRequest("GET", HOST, f"{base}/{rid}", None, (), "read Artifact Registry repository", rid),
        delete=GcpRequest("DELETE", HOST, f"{base}/{rid}", None, (), "delete Artifact Registry repository", rid,
                          "google"),
    )


def tag(target: GcpTarget, service: str, version: str) -> GcpRequest:
    """GET the tag ``<version>`` of package ``<service>``: 404 until the image is pushed."""
    base = f"/v1/{target.parent}/repositories/{repository_id(target)}"
    return GcpRequest("GET", HOST, f"{base}/packages/{service}/tags/{version}", None, (), "read image tag",
                      f"{service}:{version}")


def push_commands(target: GcpTarget, ref: str, context: str) -> tuple[str, ...]:
    """What the user runs (Docker is not driven here) to put the image where Cloud Run pulls it."""
    return (f"gcloud auth configure-docker {target.region}-docker.pkg.dev",
            f"docker build -t {ref} {context}",
            f"docker push {ref}")
