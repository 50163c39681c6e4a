"""Terraform for Google Cloud (seed 003's GCP column): VPC network, GKE or managed instance
groups, Cloud SQL, Memorystore for Redis, Pub/Sub, Cloud Storage, an external HTTPS load
balancer with Cloud Armor, Cloud KMS, Cloud Logging retention, Cloud Monitoring alerts and a
billing budget.

Data stores have no public IP (private services access), use the stack's Cloud KMS key and are
protected from deletion; Cloud SQL signs in with IAM (no password), Memorystore requires AUTH
and TLS. Secrets are Secret Manager entries created without a version: their values are added
with gcloud, never written here. The provider's ``default_labels`` put
``managed-by = pepperpy-cloud`` and ``stack = <name>`` on every labelled resource.
"""

from __future__ import annotations

import math
from typing import Any

from pepperpy.cloud.render.base import Files
from pepperpy.cloud.render.terraform_common import (
    MANAGED_BY,
    Block,
    Call,
    Expr,
    Tpl,
    block,
    bucket_names,
    container_services,
    cpu_of,
    cpu_target,
    data,
    disk_gb,
    files,
    label,
    managed,
    memory_gb,
    node_sizing,
    notifications,
    output,
    pick_size,
    region_for,
    resource,
    secret_names,
    self_hosted,
    storage_gb,
    terraform_block,
    variable,
)
from pepperpy.cloud.spec.stack import Component, Service, Stack

MACHINES = [("e2-standard-2", 2, 8), ("n2-standard-2", 2, 8), ("n2-standard-4", 4, 16),
            ("n2-standard-8", 8, 32), ("n2-standard-16", 16, 64), ("n2-standard-32", 32, 128)]
GPU_MACHINE = "g2-standard-4"
DB_BY_SIZE = {"small": (2, 4), "medium": (2, 8), "large": (4, 16), "xlarge": (8, 32)}
DB_ENGINES = {"postgres": ("POSTGRES", "16"), "mysql": ("MYSQL", "8_0")}
UBUNTU = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]
# waf_rules names -> Cloud Armor preconfigured WAF rules (AWS group names map to equivalents).
_COMMON = ["sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rfi-v33-stable",
           "rce-v33-stable"]
WAF_RULES: dict[str, list[str]] = {
    "common": _COMMON, "owasp": _COMMON, "awsmanagedrulescommonruleset": _COMMON,
    "xss": ["xss-v33-stable"], "sqli": ["sqli-v33-stable"],
    "sql-injection": ["sqli-v33-stable"], "awsmanagedrulessqliruleset": ["sqli-v33-stable"],
    "known-bad-inputs": ["cve-canary"], "log4j": ["cve-canary"],
    "awsmanagedrulesknownbadinputsruleset": ["cve-canary"],
    "linux": ["rce-v33-stable", "lfi-v33-stable"],
    "awsmanagedruleslinuxruleset": ["rce-v33-stable", "lfi-v33-stable"],
    "scanner": ["scannerdetection-v33-stable"], "protocol-attack": ["protocolattack-v33-stable"],
}
POSTGRES_FLAGS = [("cloudsql.iam_authentication", "on"), ("cloudsql.enable_pgaudit", "on"),
                  ("pgaudit.log", "ddl"), ("log_checkpoints", "on"), ("log_connections", "on"),
                  ("log_disconnections", "on"), ("log_lock_waits", "on"),
                  ("log_min_messages", "error"), ("log_min_error_statement", "error"),
                  ("log_temp_files", "0"), ("log_min_duration_statement", "-1"),
                  ("log_statement", "ddl"), ("log_hostname", "on"), ("log_duration", "on")]
MYSQL_FLAGS = [("cloudsql_iam_authentication", "on"), ("local_infile", "off"),
               ("skip_show_database", "on")]
NODE_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter",
              "roles/monitoring.viewer", "roles/stackdriver.resourceMetadata.writer",
              "roles/artifactregistry.reader"]

KMS = Expr("local.kms_key_id")
NETWORK = Expr("local.network_id")
SUBNET = Expr("local.subnetwork_id")
PROJECT = Expr("var.project_id")
APP_SA = Expr("google_service_account.app.email")
PROJECT_NUMBER = "${data.google_project.current.number}"
APIS = Expr("google_project_service.apis")


def _name(suffix: str) -> Tpl:
    return Tpl("${var.name}-" + suffix)


def _machine(spec: Service | Component) -> str:
    explicit = spec.instance_for("gcp")
    if explicit:
        return explicit
    if isinstance(spec, Service) and spec.gpu is not None:
        return GPU_MACHINE
    return pick_size(MACHINES, cpu_of(spec), memory_gb(spec))


def _db_tier(comp: Component) -> str:
    explicit = comp.instance_for("gcp")
    if explicit:
        return explicit
    cpu, mem = DB_BY_SIZE[comp.size] if comp.size else (
        max(1, math.ceil(cpu_of(comp))), max(4, math.ceil(memory_gb(comp))))
    cpu = 1 if cpu == 1 else cpu + cpu % 2  # custom machines take 1 or an even count
    mem = max(mem, math.ceil(cpu * 0.9))
    return f"db-custom-{cpu}-{int(mem) * 1024}"


class _Gcp:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cfg = stack.cloud
        self.net = stack.cloud.network
        self.kube = stack.hosting == "kubernetes"
        self.lb = stack.needs_load_balancer() and bool(container_services(stack))
        self.vars: list[Block | str] = []
        self.main: list[Block | str] = []
        self.outs: list[Block | str] = []
        self.alerts: list[tuple[str, Tpl]] = []
        self.secrets = secret_names(stack)
        self.dbs = managed(stack, "postgres", "mysql")
        self.caches_ = managed(stack, "redis")
        self.queues_ = managed(stack, "rabbitmq")
        self.buckets_ = bucket_names(stack)
        self.agents: dict[str, Any] = {}

    # ----------------------------------------------------------------- foundations
    def foundations(self) -> None:
        s, cfg = self.stack, self.cfg
        self.vars += [
            variable("project_id", "string", "Project to deploy into."),
            variable("region", "string", "Region to deploy into.", region_for(s, "gcp")),
            variable("name", "string", "Prefix of every resource name.", s.name),
            variable("log_retention_days", "number",
                     "Days Cloud Logging keeps the stack's logs (monitoring.log_retention_days).",
                     cfg.monitoring.log_retention_days),
        ]
        apis = ["cloudkms.googleapis.com", "compute.googleapis.com", "iam.googleapis.com",
                "logging.googleapis.com", "monitoring.googleapis.com"]
        if self.kube:
            apis.append("container.googleapis.com")
        if self.dbs:
            apis.append("sqladmin.googleapis.com")
        if self.dbs or self.caches_:
            apis.append("servicenetworking.googleapis.com")
        if self.caches_:
            apis.append("redis.googleapis.com")
        if self.queues_:
            apis.append("pubsub.googleapis.com")
        if self.secrets:
            apis.append("secretmanager.googleapis.com")
        if self.buckets_:
            apis.append("storage.googleapis.com")
        if cfg.cost_optimization.budget_alert_threshold is not None:
            apis.append("billingbudgets.googleapis.com")
        locals_: dict[str, Any] = {"labels": {"managed-by": MANAGED_BY, "stack": Expr("var.name")}}
        if cfg.security.encryption_key_arn:
            self.vars.append(variable("kms_key_id", "string",
                                      "Cloud KMS key that encrypts the stack's data "
                                      "(security.encryption_key_arn), in the stack's region.",
                                      cfg.security.encryption_key_arn))
            locals_["kms_key_id"] = Expr("var.kms_key_id")
        else:
            locals_["kms_key_id"] = Expr("google_kms_crypto_key.data.id")
        self.main += [
            Block("locals", (), locals_),
            data("google_project", "current", {"project_id": PROJECT}),
            resource("google_project_service", "apis", {
                "for_each": Call("toset", sorted(apis)), "project": PROJECT,
                "service": Expr("each.value"), "disable_on_destroy": False},
                comment="The APIs the stack uses."),
        ]
        if not cfg.security.encryption_key_arn:
            self.main += [
                resource("google_kms_key_ring", "main", {
                    "name": Expr("var.name"), "location": Expr("var.region"), "project": PROJECT,
                    "depends_on": [APIS]},
                    comment="One key for every encrypted resource, rotated every 90 days (set "
                            "security.encryption_key_arn to bring your own)."),
                resource("google_kms_crypto_key", "data", {
                    "name": "data", "key_ring": Expr("google_kms_key_ring.main.id"),
                    "rotation_period": "7776000s", "purpose": "ENCRYPT_DECRYPT",
                    "lifecycle": block({"prevent_destroy": True})},
                    comment="Cloud KMS keys cannot be deleted, and destroying their versions "
                            "would make every backup\nunreadable: to tear the stack down, "
                            "'terraform state rm google_kms_crypto_key.data' first."),
            ]
        self.main.append(resource("google_service_account", "app", {
            "account_id": Tpl("${substr(var.name, 0, 24)}-app"), "project": PROJECT,
            "display_name": Tpl("Services of the ${var.name} stack")},
            comment="The identity the services run as (VMs, or pods through workload identity)."))
        self.outs += [
            output("kms_key_id", KMS, "Cloud KMS key that encrypts the stack's data."),
            output("service_account", APP_SA, "Service account of the services."),
        ]

    def agent(self, key: str, email: Any) -> None:
        self.agents[key] = email

    def key_access(self) -> None:
        if not self.agents:
            return
        beta = [k for k in ("sql", "redis", "pubsub") if k in self.agents]
        items: list[Block | str] = []
        for key in beta:
            service = {"sql": "sqladmin", "redis": "redis", "pubsub": "pubsub"}[key]
            items.append(resource("google_project_service_identity", key, {
                "provider": Expr("google-beta"), "project": PROJECT,
                "service": f"{service}.googleapis.com", "depends_on": [APIS]}))
        members = {k: (Tpl(f"serviceAccount:${{google_project_service_identity.{k}.email}}")
                       if k in beta else v) for k, v in sorted(self.agents.items())}
        if "gcs" in self.agents:
            items.append(data("google_storage_project_service_account", "gcs",
                              {"project": PROJECT}))
        items.append(resource("google_kms_crypto_key_iam_member", "agents", {
            "for_each": members, "crypto_key_id": KMS,
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "member": Expr("each.value")},
            comment="The Google service agents that encrypt with the stack key."))
        self.main += ["Key access: service agents of the data services may use the stack key.",
                      *items]

    # ----------------------------------------------------------------- network
    def network(self) -> None:
        net = self.net
        private_access = bool(self.dbs or self.caches_)
        if net.vpc_id:
            self.vars += [
                variable("network", "string", "Existing VPC network (network.vpc_id).",
                         net.vpc_id),
                variable("subnetwork", "string", "Subnetwork of the workloads "
                         "(network.subnets[0]).", net.subnets[0] if net.subnets else ...),
            ]
            if self.kube:
                self.vars += [
                    variable("pods_range_name", "string", "Secondary range of the pods.", "pods"),
                    variable("services_range_name", "string",
                             "Secondary range of the Kubernetes services.", "services")]
            self.main += [
                "Existing network: the stack names network.vpc_id, so no network is created" +
                ("; it must have private services access for Cloud SQL and Memorystore."
                 if private_access else "."),
                data("google_compute_network", "main", {"name": Expr("var.network"),
                                                        "project": PROJECT}),
                data("google_compute_subnetwork", "workloads", {
                    "name": Expr("var.subnetwork"), "region": Expr("var.region"),
                    "project": PROJECT}),
                Block("locals", (), {
                    "network_id": Expr("data.google_compute_network.main.id"),
                    "subnetwork_id": Expr("data.google_compute_subnetwork.workloads.id"),
                    "subnet_cidr": Expr("data.google_compute_subnetwork.workloads.ip_cidr_range"),
                    "private_services": Expr("[]"),
                }),
            ]
        else:
            self.vars.append(variable("subnet_cidr", "string", "Range of the workloads "
                                      "subnetwork.", "10.0.0.0/20"))
            subnet: dict[str, Any] = {
                "name": _name("workloads"), "project": PROJECT, "region": Expr("var.region"),
                "network": Expr("google_compute_network.main.id"),
                "ip_cidr_range": Expr("var.subnet_cidr"), "private_ip_google_access": True,
                "log_config": block({"aggregation_interval": "INTERVAL_5_MIN",
                                     "flow_sampling": 0.5,
                                     "metadata": "INCLUDE_ALL_METADATA"}),
            }
            if self.kube:
                subnet["secondary_ip_range"] = [
                    block({"range_name": "pods", "ip_cidr_range": "10.16.0.0/14"}),
                    block({"range_name": "services", "ip_cidr_range": "10.20.0.0/20"})]
            self.main += [
                "Network: a custom-mode VPC, one private subnetwork with flow logs, Cloud NAT "
                "for outbound traffic" + (", private services access for the managed data "
                                          "stores." if private_access else "."),
                Block("locals", (), {
                    "network_id": Expr("google_compute_network.main.id"),
                    "subnetwork_id": Expr("google_compute_subnetwork.workloads.id"),
                    "subnet_cidr": Expr("var.subnet_cidr"),
                    "private_services": Expr("[google_service_networking_connection.main]"
                                             if private_access else "[]"),
                }),
                resource("google_compute_network", "main", {
                    "name": Expr("var.name"), "project": PROJECT,
                    "auto_create_subnetworks": False, "routing_mode": "REGIONAL",
                    "depends_on": [APIS]}),
                resource("google_compute_subnetwork", "workloads", subnet),
                resource("google_compute_firewall", "deny_ingress", {
                    "name": _name("deny-ingress"), "project": PROJECT,
                    "network": Expr("google_compute_network.main.id"), "direction": "INGRESS",
                    "priority": 65534, "source_ranges": ["0.0.0.0/0"],
                    "deny": block({"protocol": "all"}),
                    "log_config": block({"metadata": "INCLUDE_ALL_METADATA"})},
                    comment="Ingress not allowed by a rule is refused, and logged."),
                resource("google_compute_router", "main", {
                    "name": _name("router"), "project": PROJECT, "region": Expr("var.region"),
                    "network": Expr("google_compute_network.main.id")}),
                resource("google_compute_router_nat", "main", {
                    "name": _name("nat"), "project": PROJECT, "region": Expr("var.region"),
                    "router": Expr("google_compute_router.main.name"),
                    "nat_ip_allocate_option": "AUTO_ONLY",
                    "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                    "log_config": block({"enable": True, "filter": "ERRORS_ONLY"})}),
            ]
            if private_access:
                self.main += [
                    resource("google_compute_global_address", "private_services", {
                        "name": _name("private-services"), "project": PROJECT,
                        "purpose": "VPC_PEERING", "address_type": "INTERNAL",
                        "prefix_length": 16, "network": Expr("google_compute_network.main.id")}),
                    resource("google_service_networking_connection", "main", {
                        "network": Expr("google_compute_network.main.id"),
                        "service": "servicenetworking.googleapis.com",
                        "reserved_peering_ranges": [Expr(
                            "google_compute_global_address.private_services.name")]}),
                ]
        self.outs.append(output("network", NETWORK, "VPC network of the stack."))

    # ----------------------------------------------------------------- compute
    def compute(self) -> None:
        if self.kube:
            self.gke()
        else:
            self.mig()
        if self.secrets:
            self.main.append(resource("google_secret_manager_secret_iam_member", "app", {
                "for_each": Expr("google_secret_manager_secret.stack"), "project": PROJECT,
                "secret_id": Expr("each.value.secret_id"),
                "role": "roles/secretmanager.secretAccessor",
                "member": Tpl("serviceAccount:${google_service_account.app.email}")},
                comment="The services may read the stack's secrets."))

    def gke(self) -> None:
        sizing = node_sizing(self.stack, "gcp", MACHINES)
        spot = self.cfg.cost_optimization.use_spot_instances
        self.agent("gke", Tpl(f"serviceAccount:service-{PROJECT_NUMBER}"
                              "@container-engine-robot.iam.gserviceaccount.com"))
        self.agent("compute", Tpl(f"serviceAccount:service-{PROJECT_NUMBER}"
                                  "@compute-system.iam.gserviceaccount.com"))
        self.vars += [
            variable("node_machine_type", "string",
                     "Machine type of the nodes (the services' instance_type).",
                     sizing.instance_type),
            variable("node_min_count", "number", "Fewest nodes (sum of minimum replicas).",
                     sizing.min_nodes),
            variable("node_max_count", "number", "Most nodes (sum of maximum replicas).",
                     sizing.max_nodes),
            variable("node_disk_gb", "number", "Boot disk of each node, GiB.", sizing.disk_gb),
            variable("master_cidr", "string", "Range of the private control plane.",
                     "172.16.0.0/28"),
        ]
        pods = Expr("var.pods_range_name") if self.net.vpc_id else "pods"
        services = Expr("var.services_range_name") if self.net.vpc_id else "services"
        self.main += [
            "Kubernetes: a regional, private GKE cluster (Dataplane network policy, Shielded "
            "nodes, Binary Authorization,\nworkload identity, secrets encrypted with the stack "
            "key) and one node pool sized from the services.",
            resource("google_service_account", "nodes", {
                "account_id": Tpl("${substr(var.name, 0, 22)}-nodes"), "project": PROJECT,
                "display_name": Tpl("GKE nodes of the ${var.name} stack")}),
            resource("google_project_iam_member", "nodes", {
                "for_each": Call("toset", NODE_ROLES), "project": PROJECT,
                "role": Expr("each.value"),
                "member": Tpl("serviceAccount:${google_service_account.nodes.email}")}),
            resource("google_container_cluster", "main", {
                "name": Expr("var.name"), "project": PROJECT, "location": Expr("var.region"),
                "network": NETWORK, "subnetwork": SUBNET,
                "networking_mode": "VPC_NATIVE", "remove_default_node_pool": True,
                "initial_node_count": 1, "deletion_protection": True,
                "enable_shielded_nodes": True, "enable_intranode_visibility": True,
                "enable_legacy_abac": False,
                "resource_labels": Expr("local.labels"),
                "ip_allocation_policy": block({"cluster_secondary_range_name": pods,
                                               "services_secondary_range_name": services}),
                "private_cluster_config": block({
                    "enable_private_nodes": True, "enable_private_endpoint": True,
                    "master_ipv4_cidr_block": Expr("var.master_cidr")}),
                "master_authorized_networks_config": block({"cidr_blocks": block({
                    "cidr_block": Expr("local.subnet_cidr"), "display_name": "workloads"})}),
                "master_auth": block({"client_certificate_config": block({
                    "issue_client_certificate": False})}),
                "release_channel": block({"channel": "REGULAR"}),
                "workload_identity_config": block({
                    "workload_pool": Tpl("${var.project_id}.svc.id.goog")}),
                "database_encryption": block({"state": "ENCRYPTED", "key_name": KMS}),
                "network_policy": block({"enabled": True, "provider": "CALICO"}),
                "addons_config": block({
                    "http_load_balancing": block({"disabled": False}),
                    "network_policy_config": block({"disabled": False})}),
                "binary_authorization": block({
                    "evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}),
                "secret_manager_config": block({"enabled": True}),
                "security_posture_config": block({"mode": "BASIC",
                                                  "vulnerability_mode": "VULNERABILITY_BASIC"}),
                "logging_config": block({"enable_components": ["SYSTEM_COMPONENTS",
                                                               "WORKLOADS"]}),
                "monitoring_config": block({
                    "enable_components": ["SYSTEM_COMPONENTS"],
                    "managed_prometheus": block({"enabled": True})}),
                "maintenance_policy": block({"daily_maintenance_window": block({
                    "start_time": "03:00"})}),
                "depends_on": [Expr("google_kms_crypto_key_iam_member.agents"),
                               Expr("local.private_services")]}),
            resource("google_container_node_pool", "apps", {
                "name": "apps", "project": PROJECT, "location": Expr("var.region"),
                "cluster": Expr("google_container_cluster.main.id"),
                "autoscaling": block({"total_min_node_count": Expr("var.node_min_count"),
                                      "total_max_node_count": Expr("var.node_max_count"),
                                      "location_policy": "ANY" if spot else "BALANCED"}),
                "management": block({"auto_repair": True, "auto_upgrade": True}),
                "upgrade_settings": block({"max_surge": 1, "max_unavailable": 0}),
                "node_config": block({
                    "machine_type": Expr("var.node_machine_type"), "spot": spot,
                    "image_type": "COS_CONTAINERD", "disk_type": "pd-balanced",
                    "disk_size_gb": Expr("var.node_disk_gb"), "boot_disk_kms_key": KMS,
                    "service_account": Expr("google_service_account.nodes.email"),
                    "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                    "labels": Expr("local.labels"), "resource_labels": Expr("local.labels"),
                    "metadata": {"disable-legacy-endpoints": "true"},
                    "shielded_instance_config": block({"enable_secure_boot": True,
                                                       "enable_integrity_monitoring": True}),
                    "workload_metadata_config": block({"mode": "GKE_METADATA"})}),
                "lifecycle": block({"ignore_changes": [Expr("initial_node_count")]})},
                comment="Spot nodes (cost_optimization.use_spot_instances)." if spot else ""),
        ]
        self.alerts.append(("nodes", Tpl(
            'metric.type="kubernetes.io/node/cpu/allocatable_utilization" AND '
            'resource.type="k8s_node" AND resource.label."cluster_name"="${var.name}"')))
        self.outs += [
            output("cluster_name", Expr("google_container_cluster.main.name"), "GKE cluster."),
            output("workload_identity_pool", Tpl("${var.project_id}.svc.id.goog"),
                   "Bind Kubernetes service accounts to the 'service_account' output here."),
        ]

    def mig(self) -> None:
        spot = self.cfg.cost_optimization.use_spot_instances
        self.agent("compute", Tpl(f"serviceAccount:service-{PROJECT_NUMBER}"
                                  "@compute-system.iam.gserviceaccount.com"))
        workloads: list[tuple[str, Service | Component, int, int]] = [
            (n, s, s.replicas.min, s.replicas.max) for n, s in container_services(self.stack)]
        workloads += [(n, c, c.replicas, c.replicas) for n, c in self_hosted(self.stack)]
        ports = sorted({s.port for _, s in container_services(self.stack)})
        self.main += [
            "Compute: one regional managed instance group per service (Shielded VMs, OS Login, "
            "no public IP), autoscaled on CPU.",
            resource("google_project_iam_member", "app", {
                "for_each": Call("toset", ["roles/logging.logWriter",
                                           "roles/monitoring.metricWriter"]),
                "project": PROJECT, "role": Expr("each.value"),
                "member": Tpl("serviceAccount:${google_service_account.app.email}")}),
        ]
        if ports:
            self.main.append(resource("google_compute_firewall", "health_checks", {
                "name": _name("allow-lb"), "project": PROJECT, "network": NETWORK,
                "direction": "INGRESS", "source_ranges": HEALTH_CHECK_RANGES,
                "target_tags": [Expr("var.name")],
                "allow": block({"protocol": "tcp", "ports": [str(p) for p in ports]}),
                "log_config": block({"metadata": "INCLUDE_ALL_METADATA"})},
                comment="Health checks (and the load balancer) reach the services' ports."))
        for name, spec, low, high in workloads:
            self._group(name, spec, low, high, spot)

    def _group(self, name: str, spec: Service | Component, low: int, high: int,
               spot: bool) -> None:
        key = label(name)
        svc = spec if isinstance(spec, Service) else None
        disk = disk_gb(spec) if isinstance(spec, Service) else storage_gb(spec, 30)
        self.vars += [
            variable(f"{key}_machine_type", "string", f"Machine type of {name}.", _machine(spec)),
            variable(f"{key}_min_count", "number", f"Fewest {name} instances.", low),
            variable(f"{key}_max_count", "number", f"Most {name} instances.", high),
        ]
        if spot:
            scheduling = {"provisioning_model": "SPOT", "preemptible": True,
                          "automatic_restart": False, "on_host_maintenance": "TERMINATE",
                          "instance_termination_action": "DELETE"}
        else:
            scheduling = {"provisioning_model": "STANDARD", "automatic_restart": True,
                          "on_host_maintenance": "MIGRATE"}
        template: dict[str, Any] = {
            "name_prefix": _name(f"{name}-"), "project": PROJECT, "region": Expr("var.region"),
            "machine_type": Expr(f"var.{key}_machine_type"), "can_ip_forward": False,
            "tags": [Expr("var.name"), name],
            "labels": Call("merge", Expr("local.labels"), {"service": name}),
            "metadata": {"block-project-ssh-keys": "true", "enable-oslogin": "TRUE",
                         "serial-port-enable": "false"},
            "disk": block({"source_image": UBUNTU, "boot": True, "auto_delete": True,
                           "disk_type": "pd-balanced", "disk_size_gb": disk,
                           "disk_encryption_key": block({"kms_key_self_link": KMS})}),
            "network_interface": block({"subnetwork": SUBNET}),
            "service_account": block({"email": APP_SA, "scopes": ["cloud-platform"]}),
            "shielded_instance_config": block({"enable_secure_boot": True, "enable_vtpm": True,
                                               "enable_integrity_monitoring": True}),
            "scheduling": block(scheduling),
            "lifecycle": block({"create_before_destroy": True}),
            "depends_on": [Expr("google_kms_crypto_key_iam_member.agents")],
        }
        comment = f"{name}: Ubuntu 24.04; install the app with the files of the 'systemd' target."
        if spot:
            comment += "\nSpot VMs (cost_optimization.use_spot_instances)."
        port = svc.port if svc else None
        self.main.append(resource("google_compute_instance_template", key, template, comment))
        if svc:
            self.main.append(resource("google_compute_health_check", key, {
                "name": _name(f"{name}-health"), "project": PROJECT,
                "check_interval_sec": 15, "timeout_sec": 5, "healthy_threshold": 2,
                "unhealthy_threshold": 3,
                "http_health_check": block({"port": port, "request_path": svc.health_path}),
                "log_config": block({"enable": True})}))
        group: dict[str, Any] = {
            "name": _name(name), "project": PROJECT, "region": Expr("var.region"),
            "base_instance_name": _name(name),
            "version": block({"instance_template": Expr(
                f"google_compute_instance_template.{key}.self_link_unique")}),
        }
        if svc:
            group["named_port"] = block({"name": "http", "port": port})
            group["auto_healing_policies"] = block({
                "health_check": Expr(f"google_compute_health_check.{key}.id"),
                "initial_delay_sec": 300})
        else:
            group["target_size"] = low
        group["update_policy"] = block({
            "type": "PROACTIVE", "minimal_action": "REPLACE", "max_surge_fixed": 3,
            "max_unavailable_fixed": 0})
        self.main.append(resource("google_compute_region_instance_group_manager", key, group))
        if svc:
            target = cpu_target(svc) / 100
            cooldown = svc.scaling.cooldown_seconds if svc.scaling else 120
            self.main.append(resource("google_compute_region_autoscaler", key, {
                "name": _name(f"{name}-autoscaler"), "project": PROJECT,
                "region": Expr("var.region"),
                "target": Expr(f"google_compute_region_instance_group_manager.{key}.id"),
                "autoscaling_policy": block({
                    "min_replicas": Expr(f"var.{key}_min_count"),
                    "max_replicas": Expr(f"var.{key}_max_count"),
                    "cooldown_period": max(cooldown, 60),
                    "cpu_utilization": block({"target": round(target, 2)})})},
                comment=f"Holds {name}'s average CPU near {target:.0%}."))
        self.alerts.append((name, Tpl(
            'metric.type="compute.googleapis.com/instance/cpu/utilization" AND '
            'resource.type="gce_instance" AND metadata.user_labels."stack"="${var.name}" AND '
            f'metadata.user_labels."service"="{name}"')))
        self.outs.append(output(f"{key}_instance_group", Expr(
            f"google_compute_region_instance_group_manager.{key}.instance_group"),
            f"Instance group of {name}."))

    # ----------------------------------------------------------------- data stores
    def databases(self) -> None:
        if not self.dbs:
            return
        self.vars.append(variable("database_high_availability", "bool",
                                  "Run each database with a standby in a second zone.", True))
        self.agent("sql", None)
        self.main.append("Managed databases (Cloud SQL): private IP only, TLS required, IAM "
                         "sign-in (no password), CMEK,\npoint-in-time recovery, deletion "
                         "protection, audit and connection logs.")
        for name, comp in self.dbs:
            key = label(name)
            engine, default = DB_ENGINES[comp.kind]
            version = (comp.version or default).split(".")[0] if comp.kind == "postgres" else \
                (comp.version or default).replace(".", "_")
            flags = POSTGRES_FLAGS if comp.kind == "postgres" else MYSQL_FLAGS
            self.vars += [
                variable(f"{key}_tier", "string", f"Cloud SQL tier of {name}.", _db_tier(comp)),
                variable(f"{key}_disk_gb", "number", f"Storage of {name}, GiB.",
                         storage_gb(comp, 10)),
            ]
            instance = f"google_sql_database_instance.{key}"
            self.main += [
                resource("google_sql_database_instance", key, {
                    "name": _name(name), "project": PROJECT, "region": Expr("var.region"),
                    "database_version": f"{engine}_{version}", "deletion_protection": True,
                    "encryption_key_name": KMS,
                    "settings": block({
                        "tier": Expr(f"var.{key}_tier"), "edition": "ENTERPRISE",
                        "availability_type": Expr(
                            'var.database_high_availability ? "REGIONAL" : "ZONAL"'),
                        "disk_type": "PD_SSD", "disk_size": Expr(f"var.{key}_disk_gb"),
                        "disk_autoresize": True, "deletion_protection_enabled": True,
                        "user_labels": Expr("local.labels"),
                        "backup_configuration": block({
                            "enabled": True, "start_time": "03:00",
                            **({"point_in_time_recovery_enabled": True}
                               if comp.kind == "postgres" else {"binary_log_enabled": True}),
                            "transaction_log_retention_days": 7,
                            "backup_retention_settings": block({"retained_backups": 30})}),
                        "ip_configuration": block({
                            "ipv4_enabled": False, "private_network": NETWORK,
                            "ssl_mode": "ENCRYPTED_ONLY",
                            "enable_private_path_for_google_cloud_services": True}),
                        "database_flags": [block({"name": n, "value": v}) for n, v in flags],
                        "insights_config": block({"query_insights_enabled": True}),
                        "maintenance_window": block({"day": 7, "hour": 3})}),
                    "depends_on": [Expr("local.private_services"),
                                   Expr("google_kms_crypto_key_iam_member.agents")]}),
                resource("google_sql_database", key, {
                    "name": "app", "project": PROJECT, "instance": Expr(f"{instance}.name")}),
                resource("google_sql_user", key, {
                    "name": Expr('trimsuffix(google_service_account.app.email, ".gserviceaccount.com")'
                                 if comp.kind == "postgres" else
                                 'split("@", google_service_account.app.email)[0]'),
                    "project": PROJECT, "instance": Expr(f"{instance}.name"),
                    "type": "CLOUD_IAM_SERVICE_ACCOUNT"},
                    comment="The services sign in with their service account (IAM)."),
            ]
            self.alerts.append((name, Tpl(
                'metric.type="cloudsql.googleapis.com/database/cpu/utilization" AND '
                'resource.type="cloudsql_database" AND '
                f'resource.label."database_id"="${{var.project_id}}:${{var.name}}-{name}"')))
            self.outs.append(output(f"{key}_connection_name",
                                    Expr(f"{instance}.connection_name"),
                                    f"Connection name of {name} (Cloud SQL connectors)."))
            self.outs.append(output(f"{key}_private_ip", Expr(f"{instance}.private_ip_address"),
                                    f"Private address of {name}."))
        if self.dbs:
            self.main.append(resource("google_project_iam_member", "app_sql", {
                "for_each": Call("toset", ["roles/cloudsql.client",
                                           "roles/cloudsql.instanceUser"]),
                "project": PROJECT, "role": Expr("each.value"),
                "member": Tpl("serviceAccount:${google_service_account.app.email}")}))

    def caches(self) -> None:
        if not self.caches_:
            return
        self.agent("redis", None)
        for name, comp in self.caches_:
            key = label(name)
            ha = comp.replicas > 1
            body: dict[str, Any] = {
                "name": _name(name), "project": PROJECT, "region": Expr("var.region"),
                "tier": "STANDARD_HA" if ha else "BASIC",
                "memory_size_gb": Expr(f"var.{key}_memory_gb"),
                "redis_version": "REDIS_7_2", "authorized_network": NETWORK,
                "connect_mode": "PRIVATE_SERVICE_ACCESS", "auth_enabled": True,
                "transit_encryption_mode": "SERVER_AUTHENTICATION",
                "customer_managed_key": KMS,
            }
            if ha:
                body |= {"replica_count": comp.replicas - 1,
                         "read_replicas_mode": "READ_REPLICAS_ENABLED",
                         "persistence_config": block({"persistence_mode": "RDB",
                                                      "rdb_snapshot_period": "ONE_HOUR"})}
            body |= {
                "maintenance_policy": block({"weekly_maintenance_window": block({
                    "day": "SUNDAY", "start_time": block({"hours": 3, "minutes": 0})})}),
                "depends_on": [Expr("local.private_services"),
                               Expr("google_kms_crypto_key_iam_member.agents")],
            }
            self.vars.append(variable(f"{key}_memory_gb", "number", f"Memory of {name}, GB.",
                                      max(1, math.ceil(memory_gb(comp)))))
            self.main += [
                f"Managed Redis (Memorystore) for {name}: private, AUTH and TLS required, CMEK.",
                resource("google_redis_instance", key, body),
            ]
            self.outs.append(output(f"{key}_host", Expr(f"google_redis_instance.{key}.host"),
                                    f"Host of {name} (TLS; the AUTH string is in the console)."))

    def queues(self) -> None:
        if not self.queues_:
            return
        self.agent("pubsub", None)
        self.main.append("Message queue (Pub/Sub, seed 003's RabbitMQ): topic and subscription "
                         "per queue, CMEK, dead letters after 10 attempts.")
        agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
        for name, _comp in self.queues_:
            key = label(name)
            self.main += [
                resource("google_pubsub_topic", key, {
                    "name": _name(name), "project": PROJECT, "kms_key_name": KMS,
                    "message_retention_duration": "86400s",
                    "depends_on": [Expr("google_kms_crypto_key_iam_member.agents")]}),
                resource("google_pubsub_topic", f"{key}_dead_letter", {
                    "name": _name(f"{name}-dead-letter"), "project": PROJECT,
                    "kms_key_name": KMS,
                    "depends_on": [Expr("google_kms_crypto_key_iam_member.agents")]}),
                resource("google_pubsub_subscription", key, {
                    "name": _name(name), "project": PROJECT,
                    "topic": Expr(f"google_pubsub_topic.{key}.id"),
                    "ack_deadline_seconds": 60, "message_retention_duration": "604800s",
                    "expiration_policy": block({"ttl": ""}),
                    "retry_policy": block({"minimum_backoff": "10s", "maximum_backoff": "600s"}),
                    "dead_letter_policy": block({
                        "dead_letter_topic": Expr(f"google_pubsub_topic.{key}_dead_letter.id"),
                        "max_delivery_attempts": 10})}),
                resource("google_pubsub_topic_iam_member", f"{key}_dead_letter", {
                    "project": PROJECT, "topic": Expr(f"google_pubsub_topic.{key}_dead_letter.id"),
                    "role": "roles/pubsub.publisher", "member": Tpl(agent)}),
                resource("google_pubsub_subscription_iam_member", f"{key}_dead_letter", {
                    "project": PROJECT, "subscription": Expr(f"google_pubsub_subscription.{key}.id"),
                    "role": "roles/pubsub.subscriber", "member": Tpl(agent)}),
                resource("google_pubsub_topic_iam_member", f"{key}_app", {
                    "project": PROJECT, "topic": Expr(f"google_pubsub_topic.{key}.id"),
                    "role": "roles/pubsub.publisher",
                    "member": Tpl("serviceAccount:${google_service_account.app.email}")}),
                resource("google_pubsub_subscription_iam_member", f"{key}_app", {
                    "project": PROJECT, "subscription": Expr(f"google_pubsub_subscription.{key}.id"),
                    "role": "roles/pubsub.subscriber",
                    "member": Tpl("serviceAccount:${google_service_account.app.email}")}),
            ]
            self.outs.append(output(f"{key}_topic", Expr(f"google_pubsub_topic.{key}.id"),
                                    f"Topic of {name}."))

    def buckets(self) -> None:
        if not self.buckets_:
            return
        self.agent("gcs", Tpl("serviceAccount:${data.google_storage_project_service_account.gcs"
                              ".email_address}"))
        self.main.append("Object storage (Cloud Storage): uniform access, public access "
                         "prevented, CMEK, versioning, soft delete.")
        for name, versioning, private in self.buckets_:
            key = label(name)
            self.main.append(resource("google_storage_bucket", key, {
                "name": Tpl(f"${{var.project_id}}-${{var.name}}-{name}"), "project": PROJECT,
                "location": Expr("upper(var.region)"), "storage_class": "STANDARD",
                "force_destroy": False, "uniform_bucket_level_access": True,
                "public_access_prevention": "enforced" if private else "inherited",
                "versioning": block({"enabled": versioning}),
                "encryption": block({"default_kms_key_name": KMS}),
                "soft_delete_policy": block({"retention_duration_seconds": 604800}),
                "lifecycle_rule": block({
                    "condition": block({"days_since_noncurrent_time": 90,
                                        "with_state": "ARCHIVED"}),
                    "action": block({"type": "Delete"})}),
                "depends_on": [Expr("google_kms_crypto_key_iam_member.agents")]}))
            self.main.append(resource("google_storage_bucket_iam_member", f"{key}_app", {
                "bucket": Expr(f"google_storage_bucket.{key}.name"),
                "role": "roles/storage.objectUser",
                "member": Tpl("serviceAccount:${google_service_account.app.email}")}))
            if not private:
                self.main.append(resource("google_storage_bucket_iam_member", f"{key}_public", {
                    "bucket": Expr(f"google_storage_bucket.{key}.name"),
                    "role": "roles/storage.objectViewer", "member": "allUsers"},
                    comment=f"{name} is public-read (access_policy)."))
            self.outs.append(output(f"bucket_{key}", Expr(f"google_storage_bucket.{key}.name"),
                                    f"Bucket '{name}'."))

    def secrets_store(self) -> None:
        if not self.secrets:
            return
        commands = "\n".join(
            f"  gcloud secrets versions add {self.stack.name}-{n} --data-file=VALUE_FILE"
            for n in self.secrets)
        self.main.append(resource("google_secret_manager_secret", "stack", {
            "for_each": Call("toset", list(self.secrets)), "project": PROJECT,
            "secret_id": Tpl("${var.name}-${each.value}"),
            "replication": block({"auto": block({})}),
            "depends_on": [APIS]},
            comment="The secrets the services reference as ${SECRET:name}, created without a "
                    "version: no value is ever\nwritten here or in the state. Add each value "
                    f"with gcloud:\n{commands}"))
        self.outs.append(output("secret_ids", Expr(
            "{ for k, s in google_secret_manager_secret.stack : k => s.id }"),
            "Secret Manager secrets by name (values are added with gcloud)."))

    # ----------------------------------------------------------------- edge
    def load_balancer(self) -> None:
        if not self.lb:
            return
        services = container_services(self.stack)
        net = self.net
        items: list[Block | str] = []
        if net.custom_domain:
            self.vars.append(variable("domain_name", "string",
                                      "Domain served over HTTPS (network.custom_domain).",
                                      net.custom_domain))
            items.append(resource("google_compute_managed_ssl_certificate", "main", {
                "name": _name("cert"), "project": PROJECT,
                "managed": block({"domains": [Expr("var.domain_name")]})}))
            cert = Expr("google_compute_managed_ssl_certificate.main.id")
        elif net.ssl_certificate_arn and "/sslCertificates/" in net.ssl_certificate_arn:
            self.vars.append(variable("ssl_certificate", "string",
                                      "Compute SSL certificate of the HTTPS proxy "
                                      "(network.ssl_certificate_arn).", net.ssl_certificate_arn))
            cert = Expr("var.ssl_certificate")
        else:
            self.vars.append(variable("ssl_certificate", "string",
                                      "Compute SSL certificate (self link) of the HTTPS proxy; or "
                                      "set network.custom_domain for a Google-managed one."))
            cert = Expr("var.ssl_certificate")
        items += [
            resource("google_compute_global_address", "lb", {"name": _name("lb"),
                                                             "project": PROJECT}),
            resource("google_compute_ssl_policy", "main", {
                "name": _name("tls"), "project": PROJECT, "profile": "MODERN",
                "min_tls_version": "TLS_1_2"}),
        ]
        waf = self.cfg.security.enable_waf
        if self.kube:
            self.main += [
                "Load balancer: GKE Ingress builds the HTTPS load balancer; these are the parts "
                "it references\n(kubernetes.io/ingress.global-static-ip-name, the FrontendConfig "
                "SSL policy" + (", the BackendConfig security policy)." if waf else ")."),
                *items]
            self.outs.append(output("lb_address_name", Expr("google_compute_global_address.lb.name"),
                                    "Static IP name for the Ingress annotation."))
            self.outs.append(output("lb_ip", Expr("google_compute_global_address.lb.address"),
                                    "Point the domain's DNS at this address."))
            return
        for name, _svc in services:
            key = label(name)
            backend: dict[str, Any] = {
                "name": _name(name), "project": PROJECT,
                "load_balancing_scheme": "EXTERNAL_MANAGED", "protocol": "HTTP",
                "port_name": "http", "timeout_sec": 60,
                "health_checks": [Expr(f"google_compute_health_check.{key}.id")],
            }
            if waf:
                backend["security_policy"] = Expr("google_compute_security_policy.main.id")
            backend |= {
                "backend": block({
                    "group": Expr(f"google_compute_region_instance_group_manager.{key}"
                                  ".instance_group"),
                    "balancing_mode": "UTILIZATION", "capacity_scaler": 1}),
                "log_config": block({"enable": True, "sample_rate": 1}),
            }
            items.append(resource("google_compute_backend_service", key, backend))
        first = label(services[0][0])
        items += [
            resource("google_compute_url_map", "https", {
                "name": _name("https"), "project": PROJECT,
                "default_service": Expr(f"google_compute_backend_service.{first}.id")},
                comment=f"Requests go to {services[0][0]}; route other services with host rules "
                        "and path matchers." if len(services) > 1 else ""),
            resource("google_compute_target_https_proxy", "main", {
                "name": _name("https"), "project": PROJECT,
                "url_map": Expr("google_compute_url_map.https.id"), "ssl_certificates": [cert],
                "ssl_policy": Expr("google_compute_ssl_policy.main.id")}),
            resource("google_compute_global_forwarding_rule", "https", {
                "name": _name("https"), "project": PROJECT,
                "load_balancing_scheme": "EXTERNAL_MANAGED", "port_range": "443",
                "target": Expr("google_compute_target_https_proxy.main.id"),
                "ip_address": Expr("google_compute_global_address.lb.id")}),
            resource("google_compute_url_map", "http_redirect", {
                "name": _name("http-redirect"), "project": PROJECT,
                "default_url_redirect": block({"https_redirect": True, "strip_query": False,
                                               "redirect_response_code":
                                                   "MOVED_PERMANENTLY_DEFAULT"})}),
            resource("google_compute_target_http_proxy", "redirect", {
                "name": _name("http-redirect"), "project": PROJECT,
                "url_map": Expr("google_compute_url_map.http_redirect.id")}),
            resource("google_compute_global_forwarding_rule", "http", {
                "name": _name("http"), "project": PROJECT,
                "load_balancing_scheme": "EXTERNAL_MANAGED", "port_range": "80",
                "target": Expr("google_compute_target_http_proxy.redirect.id"),
                "ip_address": Expr("google_compute_global_address.lb.id")}),
        ]
        self.main += ["Load balancer: a global external Application Load Balancer, HTTPS with a "
                      "TLS 1.2+ policy, HTTP redirected.", *items]
        self.outs.append(output("lb_ip", Expr("google_compute_global_address.lb.address"),
                                "Point the domain's DNS at this address."))

    def waf(self) -> None:
        sec = self.cfg.security
        if not sec.enable_waf:
            return
        rules: list[str] = []
        rate_limit = False
        ignored = []
        for rule in sec.waf_rules or ["common"]:
            if rule in ("rate-limit", "rate_limit"):
                rate_limit = True
            elif rule.lower() in WAF_RULES:
                rules += [r for r in WAF_RULES[rule.lower()] if r not in rules]
            else:
                ignored.append(rule)
        if "cve-canary" not in rules:
            rules.append("cve-canary")  # Log4j, always
        blocks = [block({
            "action": "deny(403)", "priority": 1000 + i, "description": f"Block {r}",
            "match": block({"expr": block({"expression": (
                f"evaluatePreconfiguredWaf('{r}')" if r == "cve-canary" else
                f"evaluatePreconfiguredWaf('{r}', {{'sensitivity': 1}})")})})})
            for i, r in enumerate(rules)]
        if rate_limit:
            blocks.append(block({
                "action": "throttle", "priority": 900, "description": "Rate limit per client IP",
                "match": block({"versioned_expr": "SRC_IPS_V1",
                                "config": block({"src_ip_ranges": ["*"]})}),
                "rate_limit_options": block({
                    "conform_action": "allow", "exceed_action": "deny(429)",
                    "enforce_on_key": "IP",
                    "rate_limit_threshold": block({"count": 2000, "interval_sec": 60})})}))
        blocks.append(block({
            "action": "allow", "priority": 2147483647, "description": "Default: allow",
            "match": block({"versioned_expr": "SRC_IPS_V1",
                            "config": block({"src_ip_ranges": ["*"]})})}))
        comment = "Cloud Armor (security.enable_waf) with the rules of security.waf_rules."
        if ignored:
            comment += f"\nNot Cloud Armor rules, left out: {', '.join(ignored)}."
        self.main.append(resource("google_compute_security_policy", "main", {
            "name": _name("waf"), "project": PROJECT, "type": "CLOUD_ARMOR",
            "adaptive_protection_config": block({"layer_7_ddos_defense_config": block({
                "enable": True})}),
            "rule": blocks}, comment=comment))
        self.outs.append(output("security_policy", Expr("google_compute_security_policy.main.name"),
                                "Cloud Armor policy."))

    # ----------------------------------------------------------------- watch and budget
    def logs(self) -> None:
        filter_ = (Tpl('resource.type="k8s_container" AND resource.labels.cluster_name="${var.name}"')
                   if self.kube else Tpl(
                       'resource.type="gce_instance" AND '
                       'labels."compute.googleapis.com/resource_name"=~"^${var.name}-"'))
        self.main += [
            "Logs: the stack's logs go to a bucket of their own that keeps them "
            "monitoring.log_retention_days.",
            resource("google_logging_project_bucket_config", "app", {
                "project": PROJECT, "location": "global", "bucket_id": _name("logs"),
                "retention_days": Expr("var.log_retention_days"),
                "depends_on": [APIS]}),
            resource("google_logging_project_sink", "app", {
                "name": _name("logs"), "project": PROJECT,
                "destination": Tpl("logging.googleapis.com/${google_logging_project_bucket_config"
                                   ".app.id}"),
                "filter": filter_, "unique_writer_identity": True}),
        ]

    def channels(self) -> list[Expr]:
        chans = notifications(self.stack)
        refs = []
        for i, email in enumerate(chans["email"], start=1):
            self.main.append(resource("google_monitoring_notification_channel", f"email_{i}", {
                "display_name": _name(f"email-{i}"), "project": PROJECT, "type": "email",
                "labels": {"email_address": email}}))
            refs.append(Expr(f"google_monitoring_notification_channel.email_{i}.id"))
        for i, url in enumerate(chans["webhook"] + chans["slack"], start=1):
            self.main.append(resource("google_monitoring_notification_channel", f"webhook_{i}", {
                "display_name": _name(f"webhook-{i}"), "project": PROJECT,
                "type": "webhook_tokenauth", "labels": {"url": url}}))
            refs.append(Expr(f"google_monitoring_notification_channel.webhook_{i}.id"))
        return refs

    def monitoring(self) -> None:
        if not self.alerts:
            return
        self.main.append("Alerts: CPU high on compute and databases "
                         "(monitoring.alert_notifications are the channels).")
        refs = self.channels()
        for name, filter_ in self.alerts:
            self.main.append(resource("google_monitoring_alert_policy", f"{label(name)}_cpu_high", {
                "display_name": _name(f"{name}-cpu-high"), "project": PROJECT,
                "combiner": "OR", "severity": "WARNING",
                "notification_channels": refs,
                "user_labels": Expr("local.labels"),
                "conditions": block({
                    "display_name": f"{name}: average CPU above 80% for 15 minutes",
                    "condition_threshold": block({
                        "filter": filter_, "comparison": "COMPARISON_GT",
                        "threshold_value": 0.8, "duration": "900s",
                        "aggregations": block({"alignment_period": "300s",
                                               "per_series_aligner": "ALIGN_MEAN"})})}),
                "depends_on": [APIS]}))

    def budget(self) -> None:
        cost = self.cfg.cost_optimization
        if cost.budget_alert_threshold is None:
            return
        emails = [cost.budget_alert_email] if cost.budget_alert_email else list(
            notifications(self.stack)["email"])
        self.vars += [
            variable("billing_account_id", "string",
                     "Billing account the budget watches (XXXXXX-XXXXXX-XXXXXX)."),
            variable("monthly_budget", "number",
                     "Monthly budget in USD (cost_optimization.budget_alert_threshold).",
                     cost.budget_alert_threshold),
            variable("budget_alert_emails", "list(string)",
                     "Who is emailed as spend nears the budget "
                     "(cost_optimization.budget_alert_email).", emails),
        ]
        self.main += [
            resource("google_monitoring_notification_channel", "budget", {
                "for_each": Call("toset", Expr("var.budget_alert_emails")),
                "display_name": Tpl("${var.name}-budget-${each.value}"), "project": PROJECT,
                "type": "email", "labels": {"email_address": Expr("each.value")}}),
            resource("google_billing_budget", "monthly", {
                "billing_account": Expr("var.billing_account_id"),
                "display_name": _name("monthly"),
                "budget_filter": block({"projects": [Tpl(f"projects/{PROJECT_NUMBER}")]}),
                "amount": block({"specified_amount": block({
                    "currency_code": "USD", "units": Expr("tostring(floor(var.monthly_budget))")})}),
                "threshold_rules": [
                    block({"threshold_percent": 0.8, "spend_basis": "FORECASTED_SPEND"}),
                    block({"threshold_percent": 1.0, "spend_basis": "CURRENT_SPEND"})],
                "all_updates_rule": block({
                    "monitoring_notification_channels": Expr(
                        "[for c in google_monitoring_notification_channel.budget : c.id]"),
                    "disable_default_iam_recipients": False}),
                "depends_on": [APIS]},
                comment="Budget (cost_optimization.budget_alert_threshold) over the project's "
                        "spend."),
        ]

    def render(self) -> Files:
        self.foundations()
        self.network()
        self.compute()
        self.databases()
        self.caches()
        self.queues()
        self.buckets()
        self.secrets_store()
        self.waf()
        self.load_balancer()
        self.key_access()
        self.logs()
        self.monitoring()
        self.budget()
        versions: list[Block | str] = [
            terraform_block("google", "hashicorp/google", "~> 6.0",
                            {"google-beta": ("hashicorp/google-beta", "~> 6.0")}),
            Block("provider", ("google",), {
                "project": Expr("var.project_id"), "region": Expr("var.region"),
                "billing_project": Expr("var.project_id"), "user_project_override": True,
                "default_labels": Expr("local.labels")},
                comment="Every labelled resource carries managed-by = pepperpy-cloud and "
                        "stack = <name>."),
            Block("provider", ("google-beta",), {
                "project": Expr("var.project_id"), "region": Expr("var.region"),
                "default_labels": Expr("local.labels")},
                comment="Only for the service identities of the data services."),
        ]
        return files(self.stack, versions, self.vars, self.main, self.outs, "gcloud")


def render(stack: Stack) -> Files:
    """versions.tf, variables.tf, main.tf and outputs.tf for Google Cloud."""
    return _Gcp(stack).render()
