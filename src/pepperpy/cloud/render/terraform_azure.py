"""Terraform for Azure (seed 003's Azure column): VNet, AKS or VM Scale Sets, Azure Database
(flexible server), Azure Cache for Redis, Service Bus, Blob Storage, Application Gateway with
HTTPS (and WAF), Key Vault, Azure Monitor alerts and a resource-group budget.

Data services are private (public network access off, reached through private endpoints),
encrypted, backed up and locked against deletion. Databases use Microsoft Entra
authentication only, Redis too (access keys off), Service Bus refuses SAS keys: no password
is created at all. Secrets live in Key Vault and their values are set with the Azure CLI,
never written here. Every resource carries ``managed-by = pepperpy-cloud`` and
``stack = <name>`` tags.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pepperpy.cloud.cost.specs import CACHE_MEMORY_GIB
from pepperpy.cloud.render.base import Files
from pepperpy.cloud.render.terraform_common import (
    MANAGED_BY,
    Block,
    Call,
    Expr,
    Tpl,
    block,
    bucket_names,
    ceil_to,
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

MACHINES = [("Standard_D2s_v5", 2, 8), ("Standard_D4s_v5", 4, 16), ("Standard_D8s_v5", 8, 32),
            ("Standard_D16s_v5", 16, 64), ("Standard_D32s_v5", 32, 128)]
GPU_MACHINE = "Standard_NC4as_T4_v3"
DB_SKUS = [("B_Standard_B2s", 2, 4), ("GP_Standard_D2s_v3", 2, 8), ("GP_Standard_D4s_v3", 4, 16),
           ("GP_Standard_D8s_v3", 8, 32), ("GP_Standard_D16s_v3", 16, 64)]
DB_BY_SIZE = {"small": "B_Standard_B2s", "medium": "GP_Standard_D2s_v3",
              "large": "GP_Standard_D4s_v3", "xlarge": "GP_Standard_D8s_v3"}
MYSQL_BY_SIZE = {"small": "B_Standard_B2s", "medium": "GP_Standard_D2ds_v4",
                 "large": "GP_Standard_D4ds_v4", "xlarge": "GP_Standard_D8ds_v4"}
PG_STORAGE_MB = [32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4193280, 4194304,
                 8388608, 16777216, 33553408]
# waf_rules names -> Azure managed rule sets (AWS managed group names map to their equivalent).
OWASP = ("OWASP", "3.2")
BOTS = ("Microsoft_BotManagerRuleSet", "1.0")
WAF_RULES: dict[str, tuple[str, str]] = {
    "common": OWASP, "owasp": OWASP, "xss": OWASP, "sqli": OWASP, "sql-injection": OWASP,
    "known-bad-inputs": OWASP, "log4j": OWASP, "linux": OWASP,
    "awsmanagedrulescommonruleset": OWASP, "awsmanagedrulessqliruleset": OWASP,
    "awsmanagedrulesknownbadinputsruleset": OWASP, "awsmanagedruleslinuxruleset": OWASP,
    "ip-reputation": BOTS, "bot-control": BOTS, "anonymous-ip": BOTS,
    "awsmanagedrulesamazonipreputationlist": BOTS, "awsmanagedrulesanonymousiplist": BOTS,
    "awsmanagedrulesbotcontrolruleset": BOTS,
}
UBUNTU = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
          "version": "latest"}
ROLE_CRYPTO = "Key Vault Crypto Service Encryption User"
ROLE_SECRETS = "Key Vault Secrets User"

RG = Expr("azurerm_resource_group.main.name")
LOCATION = Expr("azurerm_resource_group.main.location")
TAGS = Expr("local.tags")
VAULT = Expr("azurerm_key_vault.main.id")
KEY = Expr("local.key_vault_key_id")
WORKLOADS = Expr("local.workloads_subnet_id")
ENDPOINTS = Expr("local.endpoints_subnet_id")
WORKSPACE = Expr("azurerm_log_analytics_workspace.main.id")
TENANT = Expr("data.azurerm_client_config.current.tenant_id")

# Resource types whose schema has a 'tags' argument: every one of them gets local.tags.
TAGGABLE = {
    "azurerm_resource_group", "azurerm_virtual_network", "azurerm_network_security_group",
    "azurerm_public_ip", "azurerm_nat_gateway", "azurerm_log_analytics_workspace",
    "azurerm_key_vault", "azurerm_key_vault_key", "azurerm_user_assigned_identity",
    "azurerm_disk_encryption_set", "azurerm_kubernetes_cluster",
    "azurerm_kubernetes_cluster_node_pool", "azurerm_linux_virtual_machine_scale_set",
    "azurerm_monitor_autoscale_setting", "azurerm_application_gateway",
    "azurerm_web_application_firewall_policy", "azurerm_postgresql_flexible_server",
    "azurerm_mysql_flexible_server", "azurerm_redis_cache", "azurerm_servicebus_namespace",
    "azurerm_storage_account", "azurerm_private_endpoint", "azurerm_private_dns_zone",
    "azurerm_private_dns_zone_virtual_network_link", "azurerm_monitor_action_group",
    "azurerm_monitor_metric_alert",
}


def _res(kind: str, name: str, body: dict[str, Any], comment: str = "") -> Block:
    """A resource; taggable ones get ``tags = local.tags`` after their plain attributes."""
    if kind in TAGGABLE:
        tagged: dict[str, Any] = {}
        for key, value in body.items():
            if "tags" not in tagged and (key in ("depends_on", "dynamic") or isinstance(
                    value, Block) or (isinstance(value, list) and value
                                      and all(isinstance(v, Block) for v in value))):
                tagged["tags"] = TAGS
            tagged[key] = value
        tagged.setdefault("tags", TAGS)
        body = tagged
    return resource(kind, name, body, comment)


def _name(suffix: str) -> Tpl:
    return Tpl("${var.name}-" + suffix)


def _sku(spec: Service | Component) -> str:
    explicit = spec.instance_for("azure")
    if explicit:
        return explicit if explicit.startswith(("Standard_", "Basic_")) else f"Standard_{explicit}"
    if isinstance(spec, Service) and spec.gpu is not None:
        return GPU_MACHINE
    return pick_size(MACHINES, cpu_of(spec), memory_gb(spec))


def _db_sku(comp: Component) -> str:
    explicit = comp.instance_for("azure")
    if explicit:
        if explicit.startswith(("B_", "GP_", "MO_")):
            return explicit
        size = explicit.removeprefix("Standard_")
        tier = "MO" if size.startswith("E") else "B" if size.startswith("B") else "GP"
        return f"{tier}_Standard_{size}"
    if comp.size:
        return DB_BY_SIZE[comp.size]
    return pick_size(DB_SKUS, cpu_of(comp), memory_gb(comp))


def _redis_sku(comp: Component) -> tuple[str, str, int]:
    """(sku_name, family, capacity): Premium when replicated, else Standard, sized by memory."""
    explicit = comp.instance_for("azure")
    premium = comp.replicas > 1
    if explicit and "_" in explicit:
        tier, size = explicit.split("_", 1)
        return tier, size[0], int(size[1:])
    prefix = "Premium_P" if premium else "Standard_C"
    options = sorted((gib, name) for (cloud, name), gib in CACHE_MEMORY_GIB.items()
                     if cloud == "azure" and name.startswith(prefix))
    mem = memory_gb(comp)
    name = next((n for gib, n in options if gib >= mem), options[-1][1])
    tier, size = name.split("_", 1)
    return tier, size[0], int(size[1:])


class _Azure:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cfg = stack.cloud
        self.net = stack.cloud.network
        self.kube = stack.hosting == "kubernetes"
        self.lb = stack.needs_load_balancer() and bool(container_services(stack))
        self.vars: list[Block | str] = []
        self.main: list[Block | str] = []
        self.outs: list[Block | str] = []
        self.alerts: list[tuple[str, Expr, str, str]] = []
        self.zones: list[tuple[str, str]] = []  # (label, private DNS zone)
        self.secrets = secret_names(stack)
        self.suffix = hashlib.sha256(stack.name.encode()).hexdigest()[:6]
        self.compact = stack.name.replace("-", "")[:16]

    # ----------------------------------------------------------------- foundations
    def foundations(self) -> None:
        s, cfg = self.stack, self.cfg
        suffix, compact = self.suffix, self.compact
        retention = min(max(cfg.monitoring.log_retention_days, 30), 730)
        self.vars += [
            variable("subscription_id", "string",
                     "Subscription to deploy into (null: ARM_SUBSCRIPTION_ID).", None),
            variable("location", "string", "Azure region to deploy into.", region_for(s, "azure")),
            variable("name", "string", "Prefix of every resource name.", s.name),
            variable("name_suffix", "string",
                     "Suffix that makes globally unique names (Redis, Service Bus) unique.",
                     suffix),
            variable("key_vault_name", "string",
                     "Key Vault name: 3-24 letters, digits and hyphens, unique in Azure.",
                     f"{compact[:14]}kv{suffix}"),
            variable("log_retention_days", "number",
                     "Days Log Analytics keeps logs (monitoring.log_retention_days, 30-730).",
                     retention),
            variable("admin_ip_ranges", "list(string)",
                     "Public CIDRs allowed through the Key Vault firewall (the machine running "
                     "terraform).", []),
        ]
        locals_: dict[str, Any] = {
            "tags": {"managed-by": MANAGED_BY, "stack": Expr("var.name")},
        }
        if cfg.security.encryption_key_arn:
            self.vars.append(variable(
                "key_vault_key_id", "string",
                "Key Vault key that encrypts the stack's data (security.encryption_key_arn); "
                "grant the stack's identities 'Key Vault Crypto Service Encryption User' on it.",
                cfg.security.encryption_key_arn))
            locals_["key_vault_key_id"] = Expr("var.key_vault_key_id")
        else:
            locals_["key_vault_key_id"] = Expr("azurerm_key_vault_key.main.versionless_id")
        self.main += [
            Block("locals", (), locals_),
            data("azurerm_client_config", "current", {}),
            _res("azurerm_resource_group", "main", {"name": _name("rg"),
                                                    "location": Expr("var.location")}),
            _res("azurerm_log_analytics_workspace", "main", {
                "name": _name("logs"), "location": LOCATION, "resource_group_name": RG,
                "sku": "PerGB2018", "retention_in_days": Expr("var.log_retention_days")},
                comment="Logs and metrics; retention from monitoring.log_retention_days."),
            "Key Vault: holds the encryption key and the stack's secrets; RBAC only, purge "
            "protection on, firewall closed but to admin_ip_ranges and Azure services.",
            _res("azurerm_key_vault", "main", {
                "name": Expr("var.key_vault_name"),
                "location": LOCATION, "resource_group_name": RG, "tenant_id": TENANT,
                "sku_name": "premium", "enable_rbac_authorization": True,
                "purge_protection_enabled": True, "soft_delete_retention_days": 90,
                "public_network_access_enabled": True,
                "network_acls": block({"default_action": "Deny", "bypass": "AzureServices",
                                       "ip_rules": Expr("var.admin_ip_ranges")})}),
            resource("azurerm_role_assignment", "deployer_vault_admin", {
                "scope": VAULT, "role_definition_name": "Key Vault Administrator",
                "principal_id": Expr("data.azurerm_client_config.current.object_id")},
                comment="Whoever runs terraform manages keys and secrets."),
            resource("azurerm_monitor_diagnostic_setting", "vault", {
                "name": "audit", "target_resource_id": VAULT,
                "log_analytics_workspace_id": WORKSPACE,
                "enabled_log": block({"category_group": "audit"}),
                "enabled_metric": block({"category": "AllMetrics"})}),
        ]
        if not cfg.security.encryption_key_arn:
            self.main.append(_res("azurerm_key_vault_key", "main", {
                "name": _name("data"), "key_vault_id": VAULT, "key_type": "RSA-HSM",
                "key_size": 3072, "key_opts": ["unwrapKey", "wrapKey"],
                "expiration_date": Expr('timeadd(timestamp(), "17520h")'),
                "rotation_policy": block({
                    "expire_after": "P2Y", "notify_before_expiry": "P30D",
                    "automatic": block({"time_after_creation": "P1Y"})}),
                "lifecycle": block({"ignore_changes": [Expr("expiration_date")]}),
                "depends_on": [Expr("azurerm_role_assignment.deployer_vault_admin")]},
                comment="HSM-backed key, rotated every year, each version valid two years (set\n"
                        "security.encryption_key_arn to bring your own)."))
        self.main += [
            _res("azurerm_user_assigned_identity", "data", {
                "name": _name("data"), "location": LOCATION, "resource_group_name": RG},
                comment="The identity data services use to reach the encryption key."),
            resource("azurerm_role_assignment", "data_key", {
                "scope": VAULT, "role_definition_name": ROLE_CRYPTO,
                "principal_id": Expr("azurerm_user_assigned_identity.data.principal_id")}),
        ]
        self.outs += [
            output("resource_group", RG, "Resource group holding the stack."),
            output("key_vault_name", Expr("azurerm_key_vault.main.name"),
                   "Key Vault of the stack's secrets."),
            output("log_analytics_workspace_id", WORKSPACE, "Log Analytics workspace."),
        ]

    # ----------------------------------------------------------------- network
    def network(self) -> None:
        net = self.net
        if net.vpc_id:
            subnets = list(net.subnets)
            self.vars += [
                variable("vnet_id", "string", "Existing virtual network (network.vpc_id).",
                         net.vpc_id),
                variable("workloads_subnet_id", "string",
                         "Subnet of the nodes or VMs (network.subnets[0]).",
                         subnets[0] if subnets else ...),
                variable("endpoints_subnet_id", "string",
                         "Subnet of the private endpoints (network.subnets[1]).",
                         subnets[1] if len(subnets) > 1 else (subnets[0] if subnets else ...)),
            ]
            if self.lb:
                self.vars.append(variable(
                    "gateway_subnet_id", "string",
                    "Dedicated subnet of the Application Gateway (network.subnets[2]).",
                    subnets[2] if len(subnets) > 2 else ...))
            self.main.append("Existing network: the stack names network.vpc_id, so no VNet is "
                             "created.")
            self.main.append(Block("locals", (), {
                "vnet_id": Expr("var.vnet_id"),
                "workloads_subnet_id": Expr("var.workloads_subnet_id"),
                "endpoints_subnet_id": Expr("var.endpoints_subnet_id"),
                **({"gateway_subnet_id": Expr("var.gateway_subnet_id")} if self.lb else {}),
            }))
        else:
            self.vars.append(variable("address_space", "string", "Address range of the VNet.",
                                      "10.0.0.0/16"))
            self.main += self._vnet()
        self.outs.append(output("vnet_id", Expr("local.vnet_id"), "Virtual network of the stack."))

    def _subnet(self, key: str, newbits: int, netnum: int, rules: list[Block]) -> list[Block]:
        return [
            resource("azurerm_subnet", key, {
                "name": key, "resource_group_name": RG,
                "virtual_network_name": Expr("azurerm_virtual_network.main.name"),
                "address_prefixes": [Expr(f"cidrsubnet(var.address_space, {newbits}, {netnum})")],
                "default_outbound_access_enabled": False}),
            _res("azurerm_network_security_group", key, {
                "name": _name(key), "location": LOCATION, "resource_group_name": RG,
                **({"security_rule": rules} if rules else {})}),
            resource("azurerm_subnet_network_security_group_association", key, {
                "subnet_id": Expr(f"azurerm_subnet.{key}.id"),
                "network_security_group_id": Expr(f"azurerm_network_security_group.{key}.id")}),
        ]

    def _vnet(self) -> list[Block | str]:
        items: list[Block | str] = [
            "Network: a VNet with a workloads subnet (outbound through a NAT gateway), a subnet "
            "for private endpoints" + (" and one for the Application Gateway." if self.lb else "."),
            Block("locals", (), {
                "vnet_id": Expr("azurerm_virtual_network.main.id"),
                "workloads_subnet_id": Expr("azurerm_subnet.workloads.id"),
                "endpoints_subnet_id": Expr("azurerm_subnet.endpoints.id"),
                **({"gateway_subnet_id": Expr("azurerm_subnet.gateway.id")} if self.lb else {}),
            }),
            _res("azurerm_virtual_network", "main", {
                "name": _name("vnet"), "location": LOCATION, "resource_group_name": RG,
                "address_space": [Expr("var.address_space")]}),
        ]
        workload_rules = []
        if self.lb:
            for priority, (name, svc) in enumerate(container_services(self.stack), start=100):
                workload_rules.append(block({
                    "name": f"{label(name)}-from-gateway", "priority": priority,
                    "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                    "source_port_range": "*", "destination_port_range": str(svc.port),
                    "source_address_prefix": Expr("azurerm_subnet.gateway.address_prefixes[0]"),
                    "destination_address_prefix": "*"}))
        items += self._subnet("workloads", 4, 0, workload_rules)
        items += self._subnet("endpoints", 8, 16, [])
        if self.lb:
            items += self._subnet("gateway", 8, 17, [
                block({"name": "https-from-internet", "priority": 100, "direction": "Inbound",
                       "access": "Allow", "protocol": "Tcp", "source_port_range": "*",
                       "destination_port_ranges": ["443", "80"],
                       "source_address_prefix": "Internet", "destination_address_prefix": "*"}),
                block({"name": "gateway-manager", "priority": 110, "direction": "Inbound",
                       "access": "Allow", "protocol": "Tcp", "source_port_range": "*",
                       "destination_port_range": "65200-65535",
                       "source_address_prefix": "GatewayManager",
                       "destination_address_prefix": "*"}),
            ])
        items += [
            _res("azurerm_public_ip", "nat", {
                "name": _name("nat"), "location": LOCATION, "resource_group_name": RG,
                "allocation_method": "Static", "sku": "Standard", "zones": ["1"]}),
            _res("azurerm_nat_gateway", "main", {
                "name": _name("nat"), "location": LOCATION, "resource_group_name": RG,
                "sku_name": "Standard", "zones": ["1"]}),
            resource("azurerm_nat_gateway_public_ip_association", "main", {
                "nat_gateway_id": Expr("azurerm_nat_gateway.main.id"),
                "public_ip_address_id": Expr("azurerm_public_ip.nat.id")}),
            resource("azurerm_subnet_nat_gateway_association", "workloads", {
                "subnet_id": Expr("azurerm_subnet.workloads.id"),
                "nat_gateway_id": Expr("azurerm_nat_gateway.main.id")}),
        ]
        return items

    def private_endpoint(self, key: str, target: Expr, subresource: str, zone: str,
                         zone_key: str) -> Block:
        if (zone_key, zone) not in self.zones:
            self.zones.append((zone_key, zone))
        return _res("azurerm_private_endpoint", key, {
            "name": _name(f"{key.replace('_', '-')}-pe"), "location": LOCATION,
            "resource_group_name": RG, "subnet_id": ENDPOINTS,
            "private_service_connection": block({
                "name": key.replace("_", "-"), "private_connection_resource_id": target,
                "subresource_names": [subresource], "is_manual_connection": False}),
            "private_dns_zone_group": block({
                "name": "default",
                "private_dns_zone_ids": [Expr(f"azurerm_private_dns_zone.{zone_key}.id")]})})

    def dns_zones(self) -> None:
        self.zones.append(("vault", "privatelink.vaultcore.azure.net"))
        self.main.append(self.private_endpoint("vault", VAULT, "vault",
                                               "privatelink.vaultcore.azure.net", "vault"))
        for key, zone in self.zones:
            self.main += [
                _res("azurerm_private_dns_zone", key, {"name": zone, "resource_group_name": RG}),
                _res("azurerm_private_dns_zone_virtual_network_link", key, {
                    "name": _name(key), "resource_group_name": RG,
                    "private_dns_zone_name": Expr(f"azurerm_private_dns_zone.{key}.name"),
                    "virtual_network_id": Expr("local.vnet_id")}),
            ]

    # ----------------------------------------------------------------- compute
    def compute(self) -> None:
        self.main += [
            "Managed disks are encrypted with the stack key through a disk encryption set.",
            _res("azurerm_disk_encryption_set", "main", {
                "name": _name("disks"), "location": LOCATION, "resource_group_name": RG,
                "key_vault_key_id": KEY, "auto_key_rotation_enabled": True,
                "identity": block({"type": "SystemAssigned"})}),
            resource("azurerm_role_assignment", "disks_key", {
                "scope": VAULT, "role_definition_name": ROLE_CRYPTO,
                "principal_id": Expr("azurerm_disk_encryption_set.main.identity[0].principal_id")}),
        ]
        if self.kube:
            self.aks()
        else:
            self.vmss()

    def aks(self) -> None:
        sizing = node_sizing(self.stack, "azure", MACHINES)
        vm = sizing.instance_type if sizing.instance_type.startswith(("Standard_", "Basic_")) \
            else f"Standard_{sizing.instance_type}"
        spot = self.cfg.cost_optimization.use_spot_instances
        created_net = not self.net.vpc_id
        self.vars += [
            variable("kubernetes_version", "string", "AKS Kubernetes version.", "1.33"),
            variable("node_vm_size", "string", "Machine type of the nodes (the services' "
                     "instance_type).", vm),
            variable("node_min_count", "number", "Fewest nodes (sum of minimum replicas).",
                     sizing.min_nodes),
            variable("node_max_count", "number", "Most nodes (sum of maximum replicas).",
                     sizing.max_nodes),
            variable("node_disk_gb", "number", "OS disk of each node, GiB.", sizing.disk_gb),
            variable("system_vm_size", "string", "Machine type of the system node pool.",
                     "Standard_D2s_v5"),
        ]
        system: dict[str, Any] = {
            "name": "system", "vm_size": Expr("var.system_vm_size"),
            "vnet_subnet_id": WORKLOADS, "auto_scaling_enabled": True,
            "min_count": 1, "max_count": 3, "max_pods": 50, "os_disk_type": "Managed",
            "host_encryption_enabled": True, "zones": ["1", "2", "3"],
            "only_critical_addons_enabled": True, "temporary_name_for_rotation": "rotation",
            "upgrade_settings": block({"max_surge": "10%"}),
        }
        cluster: dict[str, Any] = {
            "name": _name("aks"), "location": LOCATION, "resource_group_name": RG,
            "dns_prefix": Expr("var.name"), "kubernetes_version": Expr("var.kubernetes_version"),
            "sku_tier": "Standard", "private_cluster_enabled": True,
            "local_account_disabled": True, "role_based_access_control_enabled": True,
            "azure_policy_enabled": True, "oidc_issuer_enabled": True,
            "workload_identity_enabled": True, "automatic_upgrade_channel": "patch",
            "node_os_upgrade_channel": "NodeImage", "image_cleaner_enabled": True,
            "image_cleaner_interval_hours": 48,
            "disk_encryption_set_id": Expr("azurerm_disk_encryption_set.main.id"),
            "default_node_pool": block(system),
            "identity": block({"type": "SystemAssigned"}),
            "azure_active_directory_role_based_access_control": block({
                "azure_rbac_enabled": True, "tenant_id": TENANT}),
            "network_profile": block({
                "network_plugin": "azure", "network_policy": "azure",
                "outbound_type": "userAssignedNATGateway" if created_net else "loadBalancer",
                "service_cidr": "172.16.0.0/16", "dns_service_ip": "172.16.0.10"}),
            "oms_agent": block({"log_analytics_workspace_id": WORKSPACE,
                                "msi_auth_for_monitoring_enabled": True}),
            "microsoft_defender": block({"log_analytics_workspace_id": WORKSPACE}),
            "key_vault_secrets_provider": block({"secret_rotation_enabled": True}),
        }
        if self.lb:
            cluster["ingress_application_gateway"] = block({
                "gateway_id": Expr("azurerm_application_gateway.main.id")})
        cluster["depends_on"] = [Expr("azurerm_role_assignment.disks_key")] + (
            [Expr("azurerm_subnet_nat_gateway_association.workloads")] if created_net else [])
        self.main += [
            "Kubernetes: a private AKS cluster with Entra ID RBAC, Azure Policy, Defender, "
            "workload identity and the Key Vault CSI driver; nodes sized from the services.",
            _res("azurerm_kubernetes_cluster", "main", cluster),
        ]
        apps: dict[str, Any] = {
            "name": "apps", "kubernetes_cluster_id": Expr("azurerm_kubernetes_cluster.main.id"),
            "vm_size": Expr("var.node_vm_size"), "vnet_subnet_id": WORKLOADS,
            "mode": "User", "auto_scaling_enabled": True,
            "min_count": Expr("var.node_min_count"), "max_count": Expr("var.node_max_count"),
            "max_pods": 50, "os_disk_size_gb": Expr("var.node_disk_gb"), "os_disk_type": "Managed",
            "host_encryption_enabled": True, "zones": ["1", "2", "3"],
            "temporary_name_for_rotation": "appsrot",
        }
        comment = "The services' nodes, sized from their replicas."
        if spot:
            apps |= {"priority": "Spot", "eviction_policy": "Delete", "spot_max_price": -1,
                     "node_labels": {"kubernetes.azure.com/scalesetpriority": "spot"},
                     "node_taints": ["kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]}
            comment += ("\nSpot nodes (cost_optimization.use_spot_instances): pods need a "
                        "toleration for\nkubernetes.azure.com/scalesetpriority=spot.")
        else:
            apps["upgrade_settings"] = block({"max_surge": "10%"})
        self.main.append(_res("azurerm_kubernetes_cluster_node_pool", "apps", apps, comment))
        kubelet = "azurerm_kubernetes_cluster.main.key_vault_secrets_provider[0]" \
                  ".secret_identity[0].object_id"
        if self.secrets:
            self.main.append(resource("azurerm_role_assignment", "cluster_secrets", {
                "scope": VAULT, "role_definition_name": ROLE_SECRETS,
                "principal_id": Expr(kubelet)},
                comment="The Key Vault CSI driver reads the stack's secrets."))
        if self.lb:
            agic = "azurerm_kubernetes_cluster.main.ingress_application_gateway[0]" \
                   ".ingress_application_gateway_identity[0].object_id"
            for key, scope, role in [("agic_gateway", "azurerm_application_gateway.main.id",
                                      "Contributor"),
                                     ("agic_group", "azurerm_resource_group.main.id", "Reader"),
                                     ("agic_subnet", "local.gateway_subnet_id",
                                      "Network Contributor")]:
                self.main.append(resource("azurerm_role_assignment", key, {
                    "scope": Expr(scope), "role_definition_name": role,
                    "principal_id": Expr(agic)}))
        self.alerts.append(("nodes", Expr("azurerm_kubernetes_cluster.main.id"),
                            "Microsoft.ContainerService/managedClusters",
                            "node_cpu_usage_percentage"))
        self.outs += [
            output("cluster_name", Expr("azurerm_kubernetes_cluster.main.name"), "AKS cluster."),
            output("oidc_issuer_url", Expr("azurerm_kubernetes_cluster.main.oidc_issuer_url"),
                   "Issuer for workload identity federation."),
        ]

    def vmss(self) -> None:
        spot = self.cfg.cost_optimization.use_spot_instances
        self.vars.append(variable("ssh_public_key", "string",
                                  "SSH public key of the 'pepperpy' admin user (password login "
                                  "is disabled)."))
        self.main.append("Compute: one VM Scale Set per service in the workloads subnet, behind "
                         "the Application Gateway, autoscaled on CPU.")
        workloads: list[tuple[str, Service | Component, int, int]] = [
            (n, s, s.replicas.min, s.replicas.max) for n, s in container_services(self.stack)]
        workloads += [(n, c, c.replicas, c.replicas) for n, c in self_hosted(self.stack)]
        for name, spec, low, high in workloads:
            self._scale_set(name, spec, low, high, spot)

    def _scale_set(self, name: str, spec: Service | Component, low: int, high: int,
                   spot: bool) -> None:
        key = label(name)
        svc = spec if isinstance(spec, Service) else None
        disk = disk_gb(spec) if isinstance(spec, Service) else storage_gb(spec, 30)
        self.vars += [
            variable(f"{key}_vm_size", "string", f"Machine type of {name}.", _sku(spec)),
            variable(f"{key}_min_count", "number", f"Fewest {name} instances.", low),
            variable(f"{key}_max_count", "number", f"Most {name} instances.", high),
        ]
        ip_config: dict[str, Any] = {"name": "internal", "primary": True, "subnet_id": WORKLOADS}
        if self.lb and svc:
            ip_config["application_gateway_backend_address_pool_ids"] = [Expr(
                f'one([for p in azurerm_application_gateway.main.backend_address_pool : p.id '
                f'if p.name == "{key}"])')]
        body: dict[str, Any] = {
            "name": _name(name), "location": LOCATION, "resource_group_name": RG,
            "sku": Expr(f"var.{key}_vm_size"), "instances": Expr(f"var.{key}_min_count"),
            "admin_username": "pepperpy", "disable_password_authentication": True,
            "encryption_at_host_enabled": True, "secure_boot_enabled": True,
            "vtpm_enabled": True, "zones": ["1", "2", "3"], "upgrade_mode": "Rolling",
            "extension_operations_enabled": True, "provision_vm_agent": True,
        }
        if spot:
            body |= {"priority": "Spot", "eviction_policy": "Delete", "max_bid_price": -1}
        body |= {
            "admin_ssh_key": block({"username": "pepperpy",
                                    "public_key": Expr("var.ssh_public_key")}),
            "source_image_reference": block(UBUNTU),
            "os_disk": block({"caching": "ReadWrite", "storage_account_type": "Premium_LRS",
                              "disk_size_gb": disk,
                              "disk_encryption_set_id": Expr("azurerm_disk_encryption_set.main.id")}),
            "network_interface": block({"name": "nic", "primary": True,
                                        "ip_configuration": block(ip_config)}),
            "identity": block({"type": "SystemAssigned"}),
            "boot_diagnostics": block({}),
        }
        port = svc.port if svc else 22
        path = svc.health_path if svc else "/"
        body["extension"] = block({
            "name": "health", "publisher": "Microsoft.ManagedServices",
            "type": "ApplicationHealthLinux", "type_handler_version": "1.0",
            "auto_upgrade_minor_version": True,
            "settings": Call("jsonencode", {"protocol": "http" if svc else "tcp", "port": port,
                                            **({"requestPath": path} if svc else {})})})
        body["automatic_instance_repair"] = block({"enabled": True, "grace_period": "PT10M"})
        body["rolling_upgrade_policy"] = block({
            "max_batch_instance_percent": 20, "max_unhealthy_instance_percent": 20,
            "max_unhealthy_upgraded_instance_percent": 20,
            "pause_time_between_batches": "PT0S"})
        body["lifecycle"] = block({"ignore_changes": [Expr("instances")]})
        body["depends_on"] = [Expr("azurerm_role_assignment.disks_key")]
        comment = f"{name}: Ubuntu 24.04; install the app with the files of the 'systemd' target."
        if spot:
            comment += "\nSpot capacity (cost_optimization.use_spot_instances)."
        self.main.append(_res("azurerm_linux_virtual_machine_scale_set", key, body, comment))
        if self.secrets:
            self.main.append(resource("azurerm_role_assignment", f"{key}_secrets", {
                "scope": VAULT, "role_definition_name": ROLE_SECRETS,
                "principal_id": Expr(
                    f"azurerm_linux_virtual_machine_scale_set.{key}.identity[0].principal_id")}))
        target = cpu_target(svc) if svc else 70.0
        vmss_id = Expr(f"azurerm_linux_virtual_machine_scale_set.{key}.id")

        def rule(direction: str, operator: str, threshold: float) -> Block:
            return block({
                "metric_trigger": block({
                    "metric_name": "Percentage CPU", "metric_resource_id": vmss_id,
                    "time_grain": "PT1M", "statistic": "Average", "time_window": "PT5M",
                    "time_aggregation": "Average", "operator": operator, "threshold": threshold}),
                "scale_action": block({"direction": direction, "type": "ChangeCount",
                                       "value": "1", "cooldown": "PT5M"})})

        self.main.append(_res("azurerm_monitor_autoscale_setting", key, {
            "name": _name(f"{name}-autoscale"), "location": LOCATION, "resource_group_name": RG,
            "target_resource_id": vmss_id,
            "profile": block({
                "name": "cpu",
                "capacity": block({"default": Expr(f"var.{key}_min_count"),
                                   "minimum": Expr(f"var.{key}_min_count"),
                                   "maximum": Expr(f"var.{key}_max_count")}),
                "rule": [rule("Increase", "GreaterThan", target),
                         rule("Decrease", "LessThan", max(target - 30, 10))]})},
            comment=f"Holds {name}'s average CPU near {target:g}%."))
        self.alerts.append((name, vmss_id, "Microsoft.Compute/virtualMachineScaleSets",
                            "Percentage CPU"))
        self.outs.append(output(f"{key}_scale_set", Expr(
            f"azurerm_linux_virtual_machine_scale_set.{key}.name"), f"Scale set of {name}."))

    # ----------------------------------------------------------------- data stores
    def databases(self) -> None:
        comps = managed(self.stack, "postgres", "mysql")
        if not comps:
            return
        self.vars += [
            variable("database_high_availability", "bool",
                     "Run each database with a zone-redundant standby.", True),
            variable("database_admin_name", "string",
                     "Entra principal (as terraform runs) that administers the PostgreSQL "
                     "servers.", "terraform"),
            variable("database_admin_type", "string",
                     "Kind of that principal: ServicePrincipal, User or Group.",
                     "ServicePrincipal"),
        ]
        self.main.append("Managed databases (flexible servers): private endpoint only, geo-"
                         "redundant backups, zone-redundant HA, locked against deletion.")
        for name, comp in comps:
            if comp.kind == "postgres":
                self._postgres(name, comp)
            else:
                self._mysql(name, comp)

    def _postgres(self, name: str, comp: Component) -> None:
        key = label(name)
        self.vars += [
            variable(f"{key}_sku", "string", f"SKU of {name}.", _db_sku(comp)),
            variable(f"{key}_storage_mb", "number", f"Storage of {name}, MB.",
                     ceil_to(storage_gb(comp, 32) * 1024, PG_STORAGE_MB)),
        ]
        server = f"azurerm_postgresql_flexible_server.{key}"
        self.main += [
            _res("azurerm_postgresql_flexible_server", key, {
                "name": _name(name), "location": LOCATION, "resource_group_name": RG,
                "version": (comp.version or "16").split(".")[0],
                "sku_name": Expr(f"var.{key}_sku"), "storage_mb": Expr(f"var.{key}_storage_mb"),
                "auto_grow_enabled": True, "backup_retention_days": 35,
                "geo_redundant_backup_enabled": True, "public_network_access_enabled": False,
                "zone": "1",
                "authentication": block({"active_directory_auth_enabled": True,
                                         "password_auth_enabled": False, "tenant_id": TENANT}),
                "dynamic": Block("dynamic", ("high_availability",), {
                    "for_each": Expr(f'var.database_high_availability && !startswith(var.{key}_sku, '
                                     f'"B_") ? [1] : []'),
                    "content": block({"mode": "ZoneRedundant", "standby_availability_zone": "2"})}),
                "maintenance_window": block({"day_of_week": 0, "start_hour": 3,
                                             "start_minute": 0}),
                "lifecycle": block({"ignore_changes": [Expr("zone"), Expr(
                    "high_availability[0].standby_availability_zone")]})},
                comment=f"{name}: Entra ID authentication only (no password exists)."),
            resource("azurerm_postgresql_flexible_server_active_directory_administrator", key, {
                "server_name": Expr(f"{server}.name"), "resource_group_name": RG,
                "tenant_id": TENANT,
                "object_id": Expr("data.azurerm_client_config.current.object_id"),
                "principal_name": Expr("var.database_admin_name"),
                "principal_type": Expr("var.database_admin_type")}),
            resource("azurerm_postgresql_flexible_server_configuration", f"{key}_log_checkpoints",
                     {"name": "log_checkpoints", "server_id": Expr(f"{server}.id"),
                      "value": "on"}),
            resource("azurerm_postgresql_flexible_server_database", key, {
                "name": "app", "server_id": Expr(f"{server}.id"), "charset": "UTF8",
                "collation": "en_US.utf8"}),
            self.private_endpoint(f"{key}_db", Expr(f"{server}.id"), "postgresqlServer",
                                  "privatelink.postgres.database.azure.com", "postgres"),
            resource("azurerm_management_lock", key, {
                "name": _name(f"{name}-no-delete"), "scope": Expr(f"{server}.id"),
                "lock_level": "CanNotDelete",
                "notes": "Deletion protection: remove this lock on purpose first."}),
        ]
        self.alerts.append((name, Expr(f"{server}.id"), "Microsoft.DBforPostgreSQL/flexibleServers",
                            "cpu_percent"))
        self.outs.append(output(f"{key}_fqdn", Expr(f"{server}.fqdn"),
                                f"Host of {name} (resolves privately in the VNet)."))

    def _mysql(self, name: str, comp: Component) -> None:
        key = label(name)
        server = f"azurerm_mysql_flexible_server.{key}"
        self.vars += [
            variable(f"{key}_sku", "string", f"SKU of {name}.",
                     comp.instance_for("azure") or MYSQL_BY_SIZE[comp.size or "small"]),
            variable(f"{key}_admin_password", "string",
                     f"Administrator password of {name}: pass it as TF_VAR_{key}_admin_password, "
                     "never in a file.", sensitive=True),
        ]
        self.main += [
            _res("azurerm_mysql_flexible_server", key, {
                "name": _name(name), "location": LOCATION, "resource_group_name": RG,
                "version": "8.0.21", "sku_name": Expr(f"var.{key}_sku"),
                "administrator_login": "pepperpy",
                "administrator_password": Expr(f"var.{key}_admin_password"),
                "backup_retention_days": 35, "geo_redundant_backup_enabled": True,
                "public_network_access": "Disabled",
                "zone": "1", "storage": block({"size_gb": storage_gb(comp),
                                               "auto_grow_enabled": True})}),
            self.private_endpoint(f"{key}_db", Expr(f"{server}.id"), "mysqlServer",
                                  "privatelink.mysql.database.azure.com", "mysql"),
            resource("azurerm_management_lock", key, {
                "name": _name(f"{name}-no-delete"), "scope": Expr(f"{server}.id"),
                "lock_level": "CanNotDelete",
                "notes": "Deletion protection: remove this lock on purpose first."}),
        ]
        self.outs.append(output(f"{key}_fqdn", Expr(f"{server}.fqdn"), f"Host of {name}."))

    def caches(self) -> None:
        for name, comp in managed(self.stack, "redis"):
            key = label(name)
            tier, family, capacity = _redis_sku(comp)
            body: dict[str, Any] = {
                "name": Tpl(f"${{var.name}}-{name}-${{var.name_suffix}}"),
                "location": LOCATION, "resource_group_name": RG,
                "sku_name": tier, "family": family, "capacity": capacity,
                "non_ssl_port_enabled": False, "minimum_tls_version": "1.2",
                "public_network_access_enabled": False,
                "access_keys_authentication_enabled": False, "redis_version": "6",
            }
            if tier == "Premium":
                body |= {"replicas_per_primary": comp.replicas - 1, "zones": ["1", "2", "3"]}
            body |= {
                "redis_configuration": block({"active_directory_authentication_enabled": True}),
                "identity": block({"type": "SystemAssigned"}),
                "patch_schedule": block({"day_of_week": "Sunday", "start_hour_utc": 4}),
            }
            self.main += [
                f"Managed Redis (Azure Cache for Redis) for {name}: TLS only, Entra ID auth "
                "(access keys off), private endpoint.",
                _res("azurerm_redis_cache", key, body),
                self.private_endpoint(f"{key}_cache", Expr(f"azurerm_redis_cache.{key}.id"),
                                      "redisCache", "privatelink.redis.cache.windows.net",
                                      "redis"),
            ]
            self.outs.append(output(f"{key}_hostname", Expr(f"azurerm_redis_cache.{key}.hostname"),
                                    f"Host of {name} (TLS port 6380)."))

    def queues(self) -> None:
        comps = managed(self.stack, "rabbitmq")
        if not comps:
            return
        self.vars.append(variable("servicebus_sku", "string",
                                  "Service Bus tier (Premium adds private endpoints and "
                                  "customer-managed keys).", "Standard"))
        self.main += [
            "Message queue (Service Bus, seed 003's RabbitMQ): Entra ID auth only, TLS 1.2.",
            _res("azurerm_servicebus_namespace", "main", {
                "name": Tpl("${var.name}-bus-${var.name_suffix}"), "location": LOCATION,
                "resource_group_name": RG, "sku": Expr("var.servicebus_sku"),
                "local_auth_enabled": False, "minimum_tls_version": "1.2",
                "identity": block({"type": "SystemAssigned"})}),
        ]
        for name, _comp in comps:
            key = label(name)
            self.main.append(resource("azurerm_servicebus_queue", key, {
                "name": name, "namespace_id": Expr("azurerm_servicebus_namespace.main.id"),
                "max_delivery_count": 10, "lock_duration": "PT1M",
                "dead_lettering_on_message_expiration": True}))
        self.outs.append(output("servicebus_namespace",
                                Expr("azurerm_servicebus_namespace.main.endpoint"),
                                "Service Bus endpoint."))

    def buckets(self) -> None:
        buckets = bucket_names(self.stack)
        if not buckets:
            return
        public = any(not private for _, _, private in buckets)
        self.vars.append(variable("storage_account_name", "string",
                                  "Storage account name: 3-24 lowercase letters and digits, unique "
                                  "in Azure.", f"{self.compact}{self.suffix}"))
        versioning = any(v for _, v, _ in buckets)
        self.main += [
            "Object storage (Blob): one account, a container per bucket; Entra ID only (no "
            "shared keys), TLS 1.2, private endpoint,\ncustomer-managed key, geo-redundant, "
            "versioning and soft delete.",
            _res("azurerm_storage_account", "main", {
                "name": Expr("var.storage_account_name"),
                "location": LOCATION, "resource_group_name": RG,
                "account_kind": "StorageV2", "account_tier": "Standard",
                "account_replication_type": "GZRS", "min_tls_version": "TLS1_2",
                "https_traffic_only_enabled": True, "allow_nested_items_to_be_public": public,
                "shared_access_key_enabled": False, "default_to_oauth_authentication": True,
                "public_network_access_enabled": False, "infrastructure_encryption_enabled": True,
                "local_user_enabled": False, "cross_tenant_replication_enabled": False,
                "network_rules": block({"default_action": "Deny", "bypass": ["AzureServices"]}),
                "blob_properties": block({
                    "versioning_enabled": versioning, "change_feed_enabled": True,
                    "delete_retention_policy": block({"days": 30}),
                    "container_delete_retention_policy": block({"days": 30})}),
                "sas_policy": block({"expiration_period": "01.00:00:00",
                                     "expiration_action": "Log"}),
                "identity": block({"type": "UserAssigned", "identity_ids": [
                    Expr("azurerm_user_assigned_identity.data.id")]}),
                "customer_managed_key": block({
                    "key_vault_key_id": KEY,
                    "user_assigned_identity_id": Expr("azurerm_user_assigned_identity.data.id")}),
                "depends_on": [Expr("azurerm_role_assignment.data_key")]}),
            self.private_endpoint("blob", Expr("azurerm_storage_account.main.id"), "blob",
                                  "privatelink.blob.core.windows.net", "blob"),
            resource("azurerm_monitor_diagnostic_setting", "blob", {
                "name": "blob-access",
                "target_resource_id": Tpl("${azurerm_storage_account.main.id}/blobServices/default"),
                "log_analytics_workspace_id": WORKSPACE,
                "enabled_log": [block({"category": c}) for c in
                                ("StorageRead", "StorageWrite", "StorageDelete")],
                "enabled_metric": block({"category": "Transaction"})},
                comment="Blob reads, writes and deletes are logged."),
        ]
        for name, _versioning, private in buckets:
            self.main.append(resource("azurerm_storage_container", label(name), {
                "name": name, "storage_account_id": Expr("azurerm_storage_account.main.id"),
                "container_access_type": "private" if private else "blob"}))
        self.outs.append(output("storage_account", Expr("azurerm_storage_account.main.name"),
                                "Storage account of the buckets."))

    def secrets_store(self) -> None:
        if not self.secrets:
            return
        commands = "\n".join(
            f"  az keyvault secret set --vault-name <key_vault_name> --name {n.replace('_', '-')} "
            "--file VALUE_FILE" for n in self.secrets)
        self.main.append("The secrets the services reference as ${SECRET:name} live in the Key "
                         "Vault above. No value is ever written\nhere or in the state: set each "
                         f"one with the Azure CLI (key_vault_name is an output):\n{commands}")
        self.outs.append(output("secret_names", [n.replace("_", "-") for n in self.secrets],
                                "Key Vault secret names to set with the CLI."))

    # ----------------------------------------------------------------- edge
    def gateway(self) -> None:
        if not self.lb:
            return
        services = container_services(self.stack)
        cert = self.net.ssl_certificate_arn
        if cert and "vault.azure.net" in cert:
            self.vars.append(variable("certificate_secret_id", "string",
                                      "Key Vault secret ID of the HTTPS certificate "
                                      "(network.ssl_certificate_arn).", cert))
        else:
            self.vars.append(variable("certificate_secret_id", "string",
                                      "Key Vault secret ID (https://<vault>.vault.azure.net/"
                                      "secrets/<name>) of the HTTPS certificate."))
        waf = self.cfg.security.enable_waf
        sku = "WAF_v2" if waf else "Standard_v2"
        pools = [block({"name": label(n)}) for n, _ in services]
        settings = [block({"name": label(n), "cookie_based_affinity": "Disabled",
                           "port": s.port, "protocol": "Http", "request_timeout": 60,
                           "probe_name": label(n)}) for n, s in services]
        probes = [block({"name": label(n), "protocol": "Http", "path": s.health_path,
                         "host": "127.0.0.1", "interval": 15, "timeout": 10,
                         "unhealthy_threshold": 3}) for n, s in services]
        first = label(services[0][0])
        body: dict[str, Any] = {
            "name": _name("gateway"), "location": LOCATION, "resource_group_name": RG,
            "enable_http2": True, "zones": ["1", "2", "3"],
        }
        if waf:
            body["firewall_policy_id"] = Expr("azurerm_web_application_firewall_policy.main.id")
        body |= {
            "sku": block({"name": sku, "tier": sku}),
            "autoscale_configuration": block({"min_capacity": 1, "max_capacity": 3}),
            "identity": block({"type": "UserAssigned",
                               "identity_ids": [Expr("azurerm_user_assigned_identity.gateway.id")]}),
            "gateway_ip_configuration": block({"name": "gateway",
                                               "subnet_id": Expr("local.gateway_subnet_id")}),
            "frontend_ip_configuration": block({
                "name": "public", "public_ip_address_id": Expr("azurerm_public_ip.gateway.id")}),
            "frontend_port": [block({"name": "https", "port": 443}),
                              block({"name": "http", "port": 80})],
            "ssl_certificate": block({"name": "default",
                                      "key_vault_secret_id": Expr("var.certificate_secret_id")}),
            "ssl_policy": block({"policy_type": "Predefined",
                                 "policy_name": "AppGwSslPolicy20220101S"}),
            "http_listener": [
                block({"name": "https", "frontend_ip_configuration_name": "public",
                       "frontend_port_name": "https", "protocol": "Https",
                       "ssl_certificate_name": "default"}),
                block({"name": "http", "frontend_ip_configuration_name": "public",
                       "frontend_port_name": "http", "protocol": "Http"})],
            "backend_address_pool": pools,
            "backend_http_settings": settings,
            "probe": probes,
            "redirect_configuration": block({
                "name": "to-https", "redirect_type": "Permanent", "target_listener_name": "https",
                "include_path": True, "include_query_string": True}),
            "request_routing_rule": [
                block({"name": "https", "priority": 100, "rule_type": "Basic",
                       "http_listener_name": "https", "backend_address_pool_name": first,
                       "backend_http_settings_name": first}),
                block({"name": "http-redirect", "priority": 200, "rule_type": "Basic",
                       "http_listener_name": "http", "redirect_configuration_name": "to-https"})],
        }
        if self.kube:
            body["lifecycle"] = block({"ignore_changes": [Expr(x) for x in (
                "backend_address_pool", "backend_http_settings", "http_listener", "probe",
                "request_routing_rule", "redirect_configuration", "url_path_map",
                "frontend_port", "ssl_certificate", "tags")]})
        body["depends_on"] = [Expr("azurerm_role_assignment.gateway_secrets")]
        comment = "HTTPS entry point (seed 003's load balancer): TLS 1.2+ policy, HTTP redirects."
        if self.kube:
            comment += "\nThe AKS ingress controller (AGIC) manages listeners and pools from here."
        self.main += [
            "Load balancer: an Application Gateway v2 with the certificate from Key Vault.",
            _res("azurerm_public_ip", "gateway", {
                "name": _name("gateway"), "location": LOCATION, "resource_group_name": RG,
                "allocation_method": "Static", "sku": "Standard", "zones": ["1", "2", "3"]}),
            _res("azurerm_user_assigned_identity", "gateway", {
                "name": _name("gateway"), "location": LOCATION, "resource_group_name": RG}),
            resource("azurerm_role_assignment", "gateway_secrets", {
                "scope": VAULT, "role_definition_name": ROLE_SECRETS,
                "principal_id": Expr("azurerm_user_assigned_identity.gateway.principal_id")}),
            _res("azurerm_application_gateway", "main", body, comment),
            resource("azurerm_monitor_diagnostic_setting", "gateway", {
                "name": "logs", "target_resource_id": Expr("azurerm_application_gateway.main.id"),
                "log_analytics_workspace_id": WORKSPACE,
                "enabled_log": block({"category_group": "allLogs"}),
                "enabled_metric": block({"category": "AllMetrics"})}),
        ]
        self.outs.append(output("public_ip", Expr("azurerm_public_ip.gateway.ip_address"),
                                "Point the domain's DNS at this address."))

    def waf(self) -> None:
        sec = self.cfg.security
        if not sec.enable_waf:
            return
        sets: list[tuple[str, str]] = []
        rate_limit = False
        ignored = []
        for rule in sec.waf_rules or ["common"]:
            if rule in ("rate-limit", "rate_limit"):
                rate_limit = True
            elif rule.lower() in WAF_RULES:
                if WAF_RULES[rule.lower()] not in sets:
                    sets.append(WAF_RULES[rule.lower()])
            else:
                ignored.append(rule)
        if OWASP not in sets:
            sets.insert(0, OWASP)
        body: dict[str, Any] = {
            "name": _name("waf"), "location": LOCATION, "resource_group_name": RG,
            "policy_settings": block({"enabled": True, "mode": "Prevention",
                                      "request_body_check": True,
                                      "max_request_body_size_in_kb": 128,
                                      "file_upload_limit_in_mb": 100}),
            "managed_rules": block({"managed_rule_set": [
                block({"type": t, "version": v}) for t, v in sets]}),
        }
        if rate_limit:
            body["custom_rules"] = block({
                "name": "ratelimit", "priority": 1, "rule_type": "RateLimitRule",
                "rate_limit_duration": "OneMin", "rate_limit_threshold": 2000,
                "group_rate_limit_by": "ClientAddr", "action": "Block",
                "match_conditions": block({
                    "match_variables": block({"variable_name": "RemoteAddr"}),
                    "operator": "IPMatch", "negation_condition": True,
                    "match_values": ["255.255.255.255/32"]})})
        comment = "WAF (security.enable_waf) with the rules of security.waf_rules."
        if ignored:
            comment += f"\nNot Azure rules, left out: {', '.join(ignored)}."
        self.main.append(_res("azurerm_web_application_firewall_policy", "main", body, comment))
        self.outs.append(output("waf_policy_id",
                                Expr("azurerm_web_application_firewall_policy.main.id"),
                                "Web application firewall policy."))

    # ----------------------------------------------------------------- watch and budget
    def monitoring(self) -> None:
        if not self.alerts:
            return
        chans = notifications(self.stack)
        body: dict[str, Any] = {"name": _name("alerts"), "resource_group_name": RG,
                                "short_name": "alerts"}
        emails = [block({"name": f"email-{i}", "email_address": e,
                         "use_common_alert_schema": True})
                  for i, e in enumerate(chans["email"], start=1)]
        hooks = [block({"name": f"webhook-{i}", "service_uri": u, "use_common_alert_schema": True})
                 for i, u in enumerate(chans["webhook"] + chans["slack"], start=1)]
        if emails:
            body["email_receiver"] = emails
        if hooks:
            body["webhook_receiver"] = hooks
        self.main += ["Alerts: CPU high on compute and databases, sent to one action group "
                      "(monitoring.alert_notifications).",
                      _res("azurerm_monitor_action_group", "main", body)]
        for name, scope, namespace, metric in self.alerts:
            self.main.append(_res("azurerm_monitor_metric_alert", f"{label(name)}_cpu_high", {
                "name": _name(f"{name}-cpu-high"), "resource_group_name": RG,
                "scopes": [scope], "description": f"{name}: average CPU above 80% for 15 minutes",
                "severity": 2, "frequency": "PT5M", "window_size": "PT15M",
                "criteria": block({"metric_namespace": namespace, "metric_name": metric,
                                   "aggregation": "Average", "operator": "GreaterThan",
                                   "threshold": 80}),
                "action": block({"action_group_id": Expr("azurerm_monitor_action_group.main.id")})}))

    def budget(self) -> None:
        cost = self.cfg.cost_optimization
        if cost.budget_alert_threshold is None:
            return
        emails = [cost.budget_alert_email] if cost.budget_alert_email else list(
            notifications(self.stack)["email"])
        self.vars += [
            variable("monthly_budget", "number",
                     "Monthly budget in the billing currency "
                     "(cost_optimization.budget_alert_threshold).", cost.budget_alert_threshold),
            variable("budget_alert_emails", "list(string)",
                     "Who is emailed as spend nears the budget "
                     "(cost_optimization.budget_alert_email).", emails),
        ]
        self.main.append(resource("azurerm_consumption_budget_resource_group", "monthly", {
            "name": _name("monthly"), "resource_group_id": Expr("azurerm_resource_group.main.id"),
            "amount": Expr("var.monthly_budget"), "time_grain": "Monthly",
            "time_period": block({"start_date": Expr(
                "formatdate(\"YYYY-MM-01'T'00:00:00Z\", timestamp())")}),
            "notification": [
                block({"enabled": True, "threshold": 80, "operator": "GreaterThan",
                       "threshold_type": "Forecasted", "contact_roles": ["Owner"],
                       "contact_emails": Expr("var.budget_alert_emails")}),
                block({"enabled": True, "threshold": 100, "operator": "GreaterThan",
                       "threshold_type": "Actual", "contact_roles": ["Owner"],
                       "contact_emails": Expr("var.budget_alert_emails")})],
            "lifecycle": block({"ignore_changes": [Expr("time_period")]})},
            comment="Budget (cost_optimization.budget_alert_threshold) of the resource group; "
                    "it starts the month it is created."))

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
        self.gateway()
        self.dns_zones()
        self.monitoring()
        self.budget()
        versions: list[Block | str] = [
            terraform_block("azurerm", "hashicorp/azurerm", "~> 4.0"),
            Block("provider", ("azurerm",), {
                "subscription_id": Expr("var.subscription_id"),
                "storage_use_azuread": True,
                "features": block({
                    "key_vault": block({"purge_soft_delete_on_destroy": False}),
                    "resource_group": block({"prevent_deletion_if_contains_resources": True})})},
                comment="Storage is reached with Entra ID: the accounts have shared keys off."),
        ]
        return files(self.stack, versions, self.vars, self.main, self.outs, "Azure")


def render(stack: Stack) -> Files:
    """versions.tf, variables.tf, main.tf and outputs.tf for Azure."""
    return _Azure(stack).render()
