"""Pinned images for backing components: a tag that names a release, never 'latest'."""

from __future__ import annotations

from pepperpy.cloud.spec.stack import Component

# kind (or engine) -> (repository, default tag, container port, data path)
IMAGES: dict[str, tuple[str, str, int, str]] = {
    "qdrant": ("qdrant/qdrant", "v1.12.4", 6333, "/qdrant/storage"),
    "chroma": ("chromadb/chroma", "0.5.20", 8000, "/chroma/chroma"),
    "redis": ("redis", "7.4.1-alpine", 6379, "/data"),
    "postgres": ("pgvector/pgvector", "0.8.0-pg16", 5432, "/var/lib/postgresql/data"),
    "mysql": ("mysql", "8.4.3", 3306, "/var/lib/mysql"),
    "rabbitmq": ("rabbitmq", "3.13.7-management-alpine", 5672, "/var/lib/rabbitmq"),
    "nginx": ("nginx", "1.27.3-alpine", 80, ""),
}
PYTHON_BASE = "python:3.11.11-slim-bookworm"


def image_key(comp: Component) -> str:
    if comp.kind == "vector_db":
        return (comp.engine or "qdrant").lower()
    return comp.kind


def component_image(comp: Component) -> str:
    repo, tag, _, _ = IMAGES[image_key(comp)]
    if comp.version and comp.kind != "postgres":
        tag = comp.version
    return f"{repo}:{tag}"


def component_port(comp: Component) -> int:
    return IMAGES[image_key(comp)][2]


def component_data_path(comp: Component) -> str:
    return IMAGES[image_key(comp)][3]
