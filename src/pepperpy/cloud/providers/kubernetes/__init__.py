"""Any Kubernetes cluster reached through a kubeconfig context (or from inside the cluster).

``KubernetesProvider(context=None, kubeconfig=None, namespace=None, endpoint_url=None,
credentials=None)``: the kubeconfig given, ``$KUBECONFIG`` or ``~/.kube/config`` with its
current (or the named) context; inside a pod, its service account. ``endpoint_url``
overrides the API server address (a ``kubectl proxy``, a test server) and
``credentials={"token": ...}`` the bearer token. The official ``kubernetes`` package is
an optional extra (``pip install 'pepperpy-cloud[k8s]'``), imported on first use.

``namespace=None`` deploys to the namespace the chosen overlay names (``<stack>`` for
``prod``, ``<stack>-dev`` for ``dev``), which it creates with Pod Security labels; a
namespace given explicitly is used as it is (created only if missing), because relabelling
an existing namespace such as ``default`` is not ours to do.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("kubernetes", "k8s")
class KubernetesProvider(CloudProvider):
    name = "kubernetes"
    display_name = "Kubernetes"
    default_region = "cluster"
    capabilities_map = {
        "price": Capability(True, "priced as the price_as cloud's nodes"),
        "deploy": Capability(True, "server-side apply of the rendered kustomize overlay, rollout awaited"),
        "scale": Capability(True, "the scale subresource, or the HPA's bounds when an HPA owns replicas"),
    }

    def __init__(self, context: str | None = None, *, kubeconfig: str | None = None, namespace: str | None = None,
                 endpoint_url: str | None = None, credentials: dict[str, Any] | None = None, overlay: str = "prod",
                 force_conflicts: bool = False, timeout: float = 300.0, price_as: str = "aws",
                 **options: Any) -> None:
        super().__init__(options.pop("region", None), credentials=credentials, endpoint_url=endpoint_url, **options)
        self.context = context
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.overlay = overlay
        self.force_conflicts = force_conflicts
        self.timeout = timeout
        self.price_as = price_as
        self._client: Any = None

    @property
    def pricing_provider(self) -> str:
        return self.price_as

    def client(self) -> Any:
        """The :class:`~.client.KubeClient` for this provider's context, made on first use."""
        if self._client is None:
            from pepperpy.cloud.providers.kubernetes.client import KubeClient, load_configuration

            token = self.credentials.get("token")
            cfg, name = load_configuration(kubeconfig=self.kubeconfig, context=self.context,
                                           endpoint_url=self.endpoint_url, token=token.reveal() if token else None)
            self._client = KubeClient(cfg, context=name)
        return self._client

    def runtime(self, progress: Any = None, **overrides: Any) -> Any:
        from pepperpy.cloud.providers.kubernetes.runtime import KubernetesRuntime

        options: dict[str, Any] = {"namespace": self.namespace, "overlay": self.overlay,
                                   "force_conflicts": self.force_conflicts, "timeout": self.timeout}
        options.update({k: v for k, v in overrides.items() if v is not None})
        return KubernetesRuntime(self.client(), progress=progress, **options)

    def deploy_stack(self, stack: Any, *, stack_dir: Any = None, progress: Any = None, overlay: str | None = None,
                     components: tuple[str, ...] = (), force_conflicts: bool | None = None) -> Any:
        """Apply the stack's rendered overlay with server-side apply and wait for the rollout.

        Images are not built here: a service from source runs ``<stack>-<service>:<version>``,
        which must be pushed where the cluster pulls from. Returns one result per app service.
        """
        with self.runtime(progress, overlay=overlay, force_conflicts=force_conflicts) as runtime:
            return runtime.deploy(stack, components=tuple(components))

    def status(self, name: str) -> dict[str, Any]:
        """Each workload's replicas and rollout state, HPA bounds, and the recorded revision."""
        with self.runtime() as runtime:
            return dict(runtime.status(name))

    def scale(self, name: str, replicas: int, *, service: str | None = None,
              max_replicas: int | None = None) -> dict[str, Any]:
        """Scale subresource; where an HPA owns replicas, refused unless ``max_replicas`` sets its bounds."""
        with self.runtime() as runtime:
            return dict(runtime.scale(name, replicas, service=service, max_replicas=max_replicas))

    def rollback(self, name: str, *, service: str | None = None, wait: bool = True) -> dict[str, Any]:
        """``kubectl rollout undo``: the previous ReplicaSet's template back on the Deployment."""
        with self.runtime() as runtime:
            return dict(runtime.rollback(name, service=service, wait=wait))

    def destroy(self, name: str, *, keep_volumes: bool = False, wait: bool = True) -> list[str]:
        """Delete everything labelled as this deployment's (Foreground), the namespace last if ours."""
        with self.runtime() as runtime:
            return list(runtime.destroy(name, keep_volumes=keep_volumes, wait=wait))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "context": self.context, "namespace": self.namespace,
                "kubeconfig": self.kubeconfig, "overlay": self.overlay}
