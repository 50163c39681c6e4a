"""A whole stack on AWS: apply (create or converge), scale and destroy, recorded in the state store.

Apply, in order: the network and security groups (:mod:`.network`), S3 buckets
(:mod:`.buckets`), the managed components — PostgreSQL/MySQL on RDS
(:mod:`.rds`), Redis on ElastiCache (:mod:`.elasticache`), RabbitMQ on Amazon
MQ (:mod:`.mq`), started together and awaited later — then the ECS cluster, log
group, ECR repositories, the ALB with a target group per service
(:mod:`.alb`), the execution role, and per service a task definition, an ECS
Fargate service and its autoscaling (:mod:`.ecs`). Self-hosted components run as
ECS services of their pinned image (no load balancer, no autoscaling).

Each service gets the components' addresses as ``<COMPONENT>_HOST``/``_PORT``/
``_USER``/``_DB`` and their passwords as ``<COMPONENT>_PASSWORD`` — both those and
the app's ``${SECRET:name}`` become ``valueFrom`` Secrets Manager ARNs, so no
secret value is in a task definition, the state store or a log line.

Images: a service built from ``source`` runs ``<ECR repo>:<stack version>``.
Building and pushing needs Docker, which this tool does not drive: the result
says whether the image is in ECR and gives the commands (``push_commands``);
until it is pushed, ECS keeps retrying the tasks and the URL answers 503.

Every part is written to the state store (the deployment row's ``parts`` and
one event each) as soon as AWS accepts it; a failed apply removes what that
call created, newest first, and records anything it could not remove.
Teardown finds parts by their deployment tag (so it works without the state
row) and removes them in dependency order.

Services with ``runtime: serverless`` become Lambda functions behind Function URLs
(:mod:`.lambda_services`), with either hosting. With the provider option
``kubernetes_hosting="eks"``, a ``hosting: kubernetes`` stack gets an EKS cluster and
node group instead of ECS, and its rendered overlay is applied to it (:mod:`.eks`);
its managed components are not wired there yet and are refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError, PepperpyCloudError
from pepperpy.cloud.providers.aws import alb, buckets, ecs, eks, elasticache, lambda_services, mq, network, rds
from pepperpy.cloud.providers.aws.parts import Connection, Ctx, Journal, Progress, delete_secret, find_secrets
from pepperpy.cloud.providers.aws.resources import AWSResources
from pepperpy.cloud.render.base import service_image
from pepperpy.cloud.render.images import IMAGES, component_image, component_port, image_key
from pepperpy.cloud.render.terraform_common import container_services, managed, self_hosted
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

if TYPE_CHECKING:
    from pepperpy.cloud.providers.aws import AWSProvider

LEASE_TTL = 3600.0


@dataclass(frozen=True)
class AWSDeploymentResult:
    """One service of a stack on AWS: its URL (the ALB's DNS name, a Function URL, the cluster's address),
    what runs (``runtime``: ``ecs``, ``lambda`` or ``eks``), and what is still to do."""

    name: str
    service: str
    url: str
    revision: int
    replicas: int
    image: str
    image_pushed: bool
    push_commands: tuple[str, ...] = ()
    autoscaling: dict[str, Any] = field(default_factory=dict)
    runtime: str = "ecs"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _silent(_message: str) -> None:
    return None


class AWSStack:
    """Deploy, scale and destroy stacks with one provider's session; see the module docstring."""

    def __init__(self, provider: AWSProvider, *, progress: Progress | None = None,
                 state: StateStore | None = None) -> None:
        self.provider = provider
        self.aws = provider.session()
        self.progress = progress or _silent
        self.state = state or StateStore.open()
        self.wait_delay = float(provider.options.get("wait_delay", 30))
        self.secrets_prefix = str(provider.options.get("secrets_prefix", ""))

    # ----------------------------------------------------------------------- apply

    def deploy(self, stack: Stack, stack_dir: Path) -> list[AWSDeploymentResult]:
        """Create or converge every part of ``stack``; one result per container service."""
        app_secrets = self._preflight(stack)
        with self._lease(stack.name):
            previous = self.state.get_deployment(stack.name)
            if previous is not None and previous.provider != "aws":
                raise InputError("name", f"{stack.name!r} is already a {previous.provider} deployment",
                                 hint="destroy it there first, or rename the stack")
            spec: dict[str, Any] = {"stack": stack.model_dump(mode="json"), "region": self.aws.region,
                                    "stack_dir": str(stack_dir),
                                    "parts": dict(previous.spec.get("parts", {})) if previous else {}}
            journal = Journal(self.state, stack.name, spec, self.progress)
            journal.begin()
            try:
                results = self._apply(stack, stack_dir, journal, app_secrets)
            except BaseException as exc:
                left = journal.rollback(str(exc))
                kept = f"; could not remove {', '.join(left)} (recorded in state)" if left else ""
                if isinstance(exc, PepperpyCloudError):
                    raise DeployError(f"deploying {stack.name!r} to AWS failed: {exc}; what this run created was "
                                      f"removed{kept}", hint=getattr(exc, "hint", None)) from exc
                raise
            spec["results"] = [r.to_dict() for r in results]
            journal.finish("deployed")
            for result in results:
                if not result.image_pushed:
                    self.state.record_event("aws.image-needed", " && ".join(result.push_commands),
                                            deployment=stack.name)
            return results

    def _preflight(self, stack: Stack) -> dict[str, str]:
        """Everything that can be refused before anything exists: sizes, engines, the app's secrets (name -> ARN)."""
        lambda_services.check(stack)
        on_eks = self._on_eks(stack)
        if on_eks:
            eks.check(stack)
        for name, svc in container_services(stack) if not on_eks else []:
            ecs.fargate_size(svc, f"services.{name}")
        for name, comp in self_hosted(stack) if not on_eks else []:
            if image_key(comp) not in IMAGES:
                raise InputError(f"components.{name}", f"no pinned image for {comp.kind} {comp.engine or ''}".strip(),
                                 hint="use a vector_db engine of qdrant or chroma, or set managed: true")
            ecs.fargate_size(comp, f"components.{name}")
        for name, comp in managed(stack, "postgres", "mysql"):
            if comp.engine and comp.engine.lower().startswith("aurora"):
                raise InputError(f"components.{name}.engine", "Aurora is not deployed by the AWS provider yet",
                                 hint="leave engine unset for RDS, or render terraform-aws")
        arns: dict[str, str] = {}
        for name, svc in stack.services.items():
            for var, secret in split_env(svc.env)[1].items():
                if secret in arns:
                    continue
                found = self.aws.call("secretsmanager", "describe_secret", SecretId=self.secrets_prefix + secret,
                                      ignore={"ResourceNotFoundException"})
                if found is None:
                    raise NotFoundError(f"services.{name}.env.{var}", secret, "secret",
                                        hint=f"create it first: AWSProvider(...).secret_store().set({secret!r}, "
                                             f"value), or aws secretsmanager create-secret --name "
                                             f"{self.secrets_prefix}{secret} --secret-string file://VALUE_FILE")
                arns[secret] = str(found["ARN"])
        return arns

    def _apply(self, stack: Stack, stack_dir: Path, journal: Journal,
               app_secrets: dict[str, str]) -> list[AWSDeploymentResult]:
        if self._on_eks(stack):
            return self._apply_eks(stack, stack_dir, journal, app_secrets)
        services = container_services(stack)
        hosted = self_hosted(stack)
        self.progress(f"network for {stack.name} in {self.aws.region}")
        net = network.resolve(self.aws, stack)
        ctx = Ctx(self.aws, stack, net, journal, self.wait_delay)
        ports = sorted({s.port for _, s in services} | {component_port(c) for _, c in hosted})
        network.ensure_groups(self.aws, stack, net, ports, bool(stack.cloud.network.ssl_certificate_arn), journal)
        buckets.ensure_all(ctx, AWSResources(self.provider))
        pending = self._start_components(ctx)
        log_group = ecs.ensure_log_group(ctx)
        ecs.ensure_cluster(ctx)
        images = {name: self._image(ctx, name, svc) for name, svc in services}
        lb: dict[str, str] = {}
        groups: dict[str, dict[str, str]] = {}
        scheme = "http"
        if services:
            lb = alb.ensure_lb(ctx)
            groups = {name: alb.ensure_target_group(ctx, name, svc) for name, svc in services}
            scheme = alb.ensure_listeners(ctx, lb["arn"], [(n, groups[n]["arn"]) for n, _ in services])
        connections = [wait() for wait in pending]
        plain, secrets = self._connection_env(connections)
        every_secret = [*app_secrets.values(), *secrets.values()]
        role = ecs.ensure_execution_role(ctx, every_secret, log_group)
        results = []
        for index, (name, svc) in enumerate(services):
            env, refs = split_env(svc.env)
            task = ecs.register_task_definition(
                ctx, name, svc, image=images[name], port=svc.port, env={**plain, **env},
                secrets={**secrets, **{var: app_secrets[s] for var, s in refs.items()}}, role_arn=role,
                log_group=log_group, where=f"services.{name}")
            service = ecs.ensure_service(ctx, name, task["taskDefinitionArn"], desired=svc.replicas.min,
                                         bounds=(svc.replicas.min, svc.replicas.max),
                                         target_group=groups[name]["arn"], port=svc.port)
            scaling = ecs.ensure_scaling(ctx, name, svc, lb_suffix=lb.get("suffix"),
                                         tg_suffix=groups[name].get("suffix"))
            url = f"{scheme}://{lb['dns']}" + ("" if index == 0 else f"/{name}")
            results.append(self._result(stack, stack_dir, name, svc, url, task, service, images[name], scaling))
        for name, comp in hosted:
            task = ecs.register_task_definition(
                ctx, name, comp, image=component_image(comp), port=component_port(comp), env={}, secrets={},
                role_arn=role, log_group=log_group, where=f"components.{name}")
            ecs.ensure_service(ctx, name, task["taskDefinitionArn"], desired=comp.replicas,
                               bounds=(comp.replicas, comp.replicas), target_group=None, port=component_port(comp))
        return results + self._serverless(ctx, stack_dir, app_secrets)

    def _on_eks(self, stack: Stack) -> bool:
        """``hosting: kubernetes`` runs on EKS when the provider is asked to (``kubernetes_hosting="eks"``).

        The default stays ECS Fargate for every stack (seed 003's kv-store, ``hosting: kubernetes``,
        runs there), so EKS — a cluster and nodes billed by the hour — is opted into.
        """
        choice = str(self.provider.options.get("kubernetes_hosting", "ecs"))
        if choice not in {"ecs", "eks"}:
            raise InputError("kubernetes_hosting", f"{choice!r} is not ecs or eks")
        return stack.hosting == "kubernetes" and choice == "eks"

    def _serverless(self, ctx: Ctx, stack_dir: Path, app_secrets: dict[str, str]) -> list[AWSDeploymentResult]:
        """The stack's ``runtime: serverless`` services on Lambda (see :mod:`.lambda_services`)."""
        several = len(ctx.stack.services) > 1
        return [AWSDeploymentResult(
            name=f"{ctx.name}-{fn['service']}" if several else ctx.name, service=fn["service"], url=fn["url"],
            revision=fn["revision"], replicas=0, image="", image_pushed=True, runtime="lambda",
            details={k: v for k, v in fn.items() if k not in {"service", "url", "revision"}})
            for fn in lambda_services.deploy(ctx, stack_dir, app_secrets)]

    def _apply_eks(self, stack: Stack, stack_dir: Path, journal: Journal,
                   app_secrets: dict[str, str]) -> list[AWSDeploymentResult]:
        """``hosting: kubernetes``: buckets, an EKS cluster and node group, the overlay applied, then Lambdas."""
        self.progress(f"network for {stack.name} in {self.aws.region}")
        ctx = Ctx(self.aws, stack, network.resolve(self.aws, stack), journal, self.wait_delay)
        buckets.ensure_all(ctx, AWSResources(self.provider))
        results: list[AWSDeploymentResult] = []
        if container_services(stack) or self_hosted(stack):
            self.progress(f"EKS cluster {eks.cluster_name(stack.name)} (about 15 minutes the first time)")
            cluster_role, node_role = eks.ensure_roles(ctx)
            cluster = eks.ensure_cluster(ctx, cluster_role, str(self.provider.options.get(
                "kubernetes_version", eks.KUBERNETES_VERSION)))
            group = eks.ensure_nodegroup(ctx, node_role)
            access = eks.access(self.aws, cluster)
            endpoint = self.provider.options.get("eks_endpoint_url")
            deployed = eks.apply_manifests(ctx, access, self.provider.options.get("kubernetes_provider"),
                                           str(endpoint) if endpoint else None)
            several = len(stack.services) > 1
            for item in deployed:
                svc = stack.services[item.service]
                results.append(AWSDeploymentResult(
                    name=f"{stack.name}-{item.service}" if several else stack.name, service=item.service,
                    url=item.url, revision=item.revision, replicas=int(item.replicas or 0),
                    image=service_image(stack, item.service, svc), image_pushed=bool(svc.image), runtime="eks",
                    details={"cluster": access.cluster, "endpoint": access.endpoint, "namespace": item.namespace,
                             "nodegroup": group.get("nodegroupName"),
                             "kubeconfig": f"aws eks update-kubeconfig --region {self.aws.region} "
                                           f"--name {access.cluster}"}))
        return results + self._serverless(ctx, stack_dir, app_secrets)

    def _start_components(self, ctx: Ctx) -> list[Any]:
        """Start every managed component (they take minutes each); returns waits that give their connections."""
        pending: list[Any] = []
        for name, comp in managed(ctx.stack, "postgres", "mysql"):
            self.progress(f"RDS {comp.kind} {name}")
            identifier = rds.ensure(ctx, name, comp)
            pending.append(lambda n=name, c=comp, i=identifier: rds.connection(ctx, n, c, i))
        for name, comp in managed(ctx.stack, "redis"):
            self.progress(f"ElastiCache Redis {name}")
            group = elasticache.ensure(ctx, name, comp)
            pending.append(lambda n=name, g=group: elasticache.connection(ctx, n, g))
        for name, comp in managed(ctx.stack, "rabbitmq"):
            self.progress(f"Amazon MQ RabbitMQ {name}")
            broker = mq.ensure(ctx, name, comp)
            pending.append(lambda n=name, b=broker: mq.connection(ctx, n, b))
        return pending

    @staticmethod
    def _connection_env(connections: list[Connection]) -> tuple[dict[str, str], dict[str, str]]:
        plain: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for conn in connections:
            plain.update(conn.plain)
            secrets.update(conn.secrets)
        return plain, secrets

    def _image(self, ctx: Ctx, name: str, svc: Service) -> str:
        """A pre-built ``image`` as is; a service from source: its ECR repository with the stack's version."""
        if svc.image:
            return svc.image
        return f"{ecs.ensure_repository(ctx, name)}:{ctx.stack.version}"

    def _result(self, stack: Stack, stack_dir: Path, name: str, svc: Service, url: str, task: dict[str, Any],
                service: dict[str, Any], image: str, scaling: dict[str, Any]) -> AWSDeploymentResult:
        commands: tuple[str, ...] = ()
        pushed = True
        if not svc.image:
            repo, _, tag = image.rpartition(":")
            found = self.aws.call("ecr", "describe_images", repositoryName=f"{stack.name}/{name}",
                                  imageIds=[{"imageTag": tag}], ignore={"ImageNotFoundException"})
            pushed = bool(found and found.get("imageDetails"))
            context = (stack_dir / (svc.source or ".")).resolve()
            commands = (f"aws ecr get-login-password --region {self.aws.region} | docker login --username AWS "
                        f"--password-stdin {repo.split('/', 1)[0]}",
                        f"docker build -t {image} {context}",
                        f"docker push {image}")
            if not pushed:
                self.progress(f"{name}: push the image before ECS can start it:\n  " + "\n  ".join(commands))
        deployment = stack.name if len(container_services(stack)) == 1 else f"{stack.name}-{name}"
        return AWSDeploymentResult(name=deployment, service=name, url=url, revision=int(task["revision"]),
                                   replicas=int(service.get("desiredCount", svc.replicas.min)), image=image,
                                   image_pushed=pushed, push_commands=commands if not pushed else (),
                                   autoscaling=scaling)

    # ----------------------------------------------------------------------- scale

    def scale(self, name: str, replicas: int, service: str | None = None) -> AWSDeploymentResult:
        """Set a service's task count within its autoscaling bounds."""
        if replicas < 0:
            raise InputError("replicas", f"{replicas} must be >= 0")
        record = self.state.get_deployment(name)
        if record is None or record.provider != "aws" or not record.spec.get("results"):
            known = [d.name for d in self.state.list_deployments() if d.provider == "aws"]
            raise NotFoundError("NAME", name, "AWS deployment", suggestions=known)
        results = [AWSDeploymentResult(**{**r, "push_commands": tuple(r["push_commands"])})
                   for r in record.spec["results"]]
        chosen = [r for r in results if service in (None, r.service)]
        if len(chosen) != 1:
            raise InputError("service", f"name one of the services of {name!r}: "
                             f"{', '.join(r.service for r in results)}")
        if chosen[0].runtime != "ecs":
            how = ("Lambda scales itself" if chosen[0].runtime == "lambda"
                   else "use KubernetesProvider(...).scale with the cluster's kubeconfig")
            raise InputError("service", f"{chosen[0].service} runs on {chosen[0].runtime}, not ECS: {how}")
        with self._lease(name):
            updated = ecs.scale(self.aws, name, chosen[0].service, replicas)
            self.state.record_event("aws.scaled", f"{chosen[0].service}: {updated['desiredCount']} tasks",
                                    deployment=name)
        result = AWSDeploymentResult(**{**chosen[0].to_dict(), "replicas": int(updated["desiredCount"])})
        record.spec["results"] = [result.to_dict() if r.service == result.service else r.to_dict() for r in results]
        self.state.upsert_deployment(name, "aws", record.spec, status=record.status)
        return result

    # ----------------------------------------------------------------------- destroy

    def destroy(self, name: str) -> list[str]:
        """Remove everything tagged as part of deployment ``name``, in dependency order; returns what went."""
        record = self.state.get_deployment(name)
        if record is not None and record.provider != "aws":
            raise InputError("name", f"{name!r} is a {record.provider} deployment, not an AWS one")
        with self._lease(name):
            self.state.record_event("aws.destroy", "destroy started", deployment=name)
            gone: list[str] = []
            try:
                self.progress(f"EKS node groups and cluster, Lambda functions of {name}")
                gone += eks.destroy(self.aws, name, self.wait_delay)
                gone += lambda_services.destroy(self.aws, name)
                self.progress(f"ECS services, tasks, cluster and repositories of {name}")
                gone += ecs.destroy(self.aws, name, self.wait_delay)
                self.progress("load balancer")
                gone += alb.destroy(self.aws, name, self.wait_delay)
                self.progress("Amazon MQ, ElastiCache, RDS")
                gone += mq.destroy(self.aws, name, self.wait_delay)
                gone += elasticache.destroy(self.aws, name, self.wait_delay)
                gone += rds.destroy(self.aws, name, self.wait_delay)
                self.progress("buckets and secrets")
                gone += buckets.destroy(self.aws, name, AWSResources(self.provider))
                for secret in find_secrets(self.aws, name):
                    delete_secret(self.aws, secret)
                    gone.append(f"secret:{secret}")
                groups = network.find_groups(self.aws, name)
                network.delete_groups(self.aws, groups, delay=self.wait_delay)
                gone += [f"security-group:{g}" for g in groups]
            except PepperpyCloudError as exc:
                self.state.record_event("aws.destroy-failed", f"{exc} (removed so far: {len(gone)})",
                                        deployment=name)
                raise
            if record is None and not gone:
                raise NotFoundError("NAME", name, "AWS deployment",
                                    suggestions=[d.name for d in self.state.list_deployments()
                                                 if d.provider == "aws"])
            self.state.record_event("aws.destroyed", ", ".join(gone) or "nothing was left", deployment=name)
            if record is not None:
                self.state.delete_deployment(name)
            return gone

    @contextlib.contextmanager
    def _lease(self, name: str) -> Iterator[None]:
        with self.state.lock(f"aws:{name}", ttl=LEASE_TTL):
            yield
