"""A module-level ASGI app for servers and handlers that import ``module:app`` (the rendered
Dockerfile's uvicorn command, the Lambda Mangum handler); settings come from the environment."""

from __future__ import annotations

from pepperpy.cloud.service.app import create_app_from_env

app = create_app_from_env()
