"""``serve``: run the HTTP service (FastAPI under uvicorn). FastAPI is imported only when it runs."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(None, "--port", help="Port (default: the PORT setting, 8000)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="Worker processes."),
    config_dir: Path = typer.Option(None, "--config-dir",
                                    help="Folder with dev.yaml, prod.yaml, test.yaml (default: the packaged ones)."),
    environment: str = typer.Option(None, "--environment", "-e",
                                    help="development, testing or production (default: $ENVIRONMENT or development)."),
) -> None:
    """Serve /v1/estimate, /v1/compare, /v1/instances, /v1/ask, /v1/deployments, /v1/metrics, /docs.

    Settings come from environment variables (PORT, ENVIRONMENT, LOG_LEVEL, SECRET_KEY, ALLOWED_ORIGINS,
    REDIS_URL, CACHE_TTL, ...) over config/<environment>.yaml. Production refuses a default SECRET_KEY or '*'.

    Examples:

      pepperpy-cloud keys create dashboard

      pepperpy-cloud serve --port 8000

      ENVIRONMENT=production SECRET_KEY=... ALLOWED_ORIGINS=https://app.example.com pepperpy-cloud serve -w 2
    """
    from pepperpy.cloud.service.settings import CONFIG_DIR_ENV, load_settings

    settings = load_settings(config_dir, environment)  # fail here, with one line, before any worker starts
    if config_dir is not None:
        os.environ[CONFIG_DIR_ENV] = str(config_dir.resolve())
    os.environ["ENVIRONMENT"] = settings.environment  # workers re-read the same settings
    import uvicorn

    uvicorn.run("pepperpy.cloud.service.app:create_app_from_env", factory=True, host=host,
                port=port or settings.port, workers=workers, log_config=None, access_log=False,
                log_level=settings.log_level, proxy_headers=False, server_header=False)


def main() -> None:
    """``python -m pepperpy.cloud.cli.serve``: the same command without the rest of the CLI."""
    import sys

    from pepperpy.cloud.errors import PepperpyCloudError

    try:
        typer.run(serve)
    except PepperpyCloudError as exc:  # typer.run is standalone: errors reach here only in odd paths
        from pepperpy.cloud.cli.errors import report

        sys.exit(report(exc))


if __name__ == "__main__":
    main()
