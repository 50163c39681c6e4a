"""One module per resource; ``ROUTERS`` is the order they are mounted in."""

from __future__ import annotations

from pepperpy.cloud.service.routes import ask, deployments, metrics, pricing, system

ROUTERS = (system.router, pricing.router, ask.router, deployments.router, metrics.router)
