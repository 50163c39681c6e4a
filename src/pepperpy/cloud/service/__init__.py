"""The PepperPy Cloud HTTP service (``pepperpy-cloud serve``): pricing, the agent and deployments over FastAPI.

``create_app(settings)`` builds the app; ``pepperpy.cloud.service.app:create_app_from_env`` is the factory
uvicorn runs. Nothing here is imported by the rest of the package, so the CLI stays fast.
"""
