"""Terraform for AWS (seed 003's AWS column): VPC, EKS or EC2 Auto Scaling, RDS, ElastiCache,
Amazon MQ, S3, an ALB with HTTPS, KMS, WAF, CloudWatch logs and alarms, and a budget.

Everything is encrypted with one KMS key (created, or ``security.encryption_key_arn``),
private (workloads in private subnets, nothing publicly reachable but the load balancer),
and tagged ``managed-by = pepperpy-cloud`` and ``stack = <name>`` through the provider's
``default_tags``. Secrets are created as empty Secrets Manager entries: their values are
set with the AWS CLI, never written here. RDS keeps its master password in Secrets
Manager itself (``manage_master_user_password``); the ElastiCache auth token and the
Amazon MQ password come from sensitive variables (``TF_VAR_...``) that have no default.
"""

from __future__ import annotations

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

# General-purpose machines (name, vCPUs, GiB) for nodes and VMs, smallest first.
MACHINES = [("t3.medium", 2, 4), ("m5.large", 2, 8), ("m5.xlarge", 4, 16),
            ("m5.2xlarge", 8, 32), ("m5.4xlarge", 16, 64), ("m5.8xlarge", 32, 128)]
GPU_MACHINE = "g5.xlarge"
DB_CLASSES = [("db.t3.medium", 2, 4), ("db.m5.large", 2, 8), ("db.m5.xlarge", 4, 16),
              ("db.m5.2xlarge", 8, 32), ("db.m5.4xlarge", 16, 64)]
DB_BY_SIZE = {"small": "db.t3.medium", "medium": "db.m5.large", "large": "db.m5.xlarge",
              "xlarge": "db.m5.2xlarge"}
DB_ENGINES = {"postgres": ("postgres", "16", 5432, ["postgresql", "upgrade"]),
              "mysql": ("mysql", "8.0", 3306, ["error", "general", "slowquery"])}
LOG_RETENTION = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                 2192, 2557, 2922, 3288, 3653]
UBUNTU_OWNER = "099720109477"  # Canonical
UBUNTU_AMI = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
# waf_rules names -> AWS managed rule groups (any AWSManagedRules* name passes through).
WAF_RULES = {
    "common": "AWSManagedRulesCommonRuleSet", "owasp": "AWSManagedRulesCommonRuleSet",
    "xss": "AWSManagedRulesCommonRuleSet", "sqli": "AWSManagedRulesSQLiRuleSet",
    "sql-injection": "AWSManagedRulesSQLiRuleSet",
    "known-bad-inputs": "AWSManagedRulesKnownBadInputsRuleSet",
    "log4j": "AWSManagedRulesKnownBadInputsRuleSet",
    "ip-reputation": "AWSManagedRulesAmazonIpReputationList",
    "anonymous-ip": "AWSManagedRulesAnonymousIpList",
    "linux": "AWSManagedRulesLinuxRuleSet", "bot-control": "AWSManagedRulesBotControlRuleSet",
}
DEFAULT_WAF = ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
KMS_USE = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
           "kms:Describe*"]

ACCOUNT = "${data.aws_caller_identity.current.account_id}"
KMS = Expr("local.kms_key_arn")
PRIVATE = Expr("local.private_subnet_ids")
VPC = Expr("local.vpc_id")
WORKLOADS = Expr("local.workload_security_group_id")


def _assume(service: str) -> Call:
    return Call("jsonencode", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _name(suffix: str) -> Tpl:
    return Tpl("${var.name}-" + suffix)


def _tags(extra: dict[str, Any] | None = None) -> Expr | Call:
    return Call("merge", Expr("local.tags"), extra) if extra else Expr("local.tags")


def _machine(spec: Service | Component) -> str:
    explicit = spec.instance_for("aws")
    if explicit:
        return explicit
    if isinstance(spec, Service) and spec.gpu is not None:
        return GPU_MACHINE
    return pick_size(MACHINES, cpu_of(spec), memory_gb(spec))


class _Aws:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cfg = stack.cloud
        self.net = stack.cloud.network
        self.kube = stack.hosting == "kubernetes"
        self.lb = stack.needs_load_balancer()
        self.vars: list[Block | str] = []
        self.main: list[Block | str] = []
        self.outs: list[Block | str] = []
        self.alarms: list[Block] = []
        self.secrets = secret_names(stack)

    # ----------------------------------------------------------------- foundations
    def foundations(self) -> None:
        s, cfg = self.stack, self.cfg
        self.vars += [
            variable("region", "string", "AWS region to deploy into.", region_for(s, "aws")),
            variable("name", "string", "Prefix of every resource name.", s.name),
            variable("log_retention_days", "number",
                     "Days CloudWatch keeps logs (monitoring.log_retention_days).",
                     ceil_to(cfg.monitoring.log_retention_days, LOG_RETENTION)),
        ]
        locals_: dict[str, Any] = {
            "tags": {"managed-by": MANAGED_BY, "stack": Expr("var.name")},
        }
        if cfg.security.encryption_key_arn:
            self.vars.append(variable("kms_key_arn", "string",
                                      "KMS key that encrypts everything (security.encryption_key_arn); "
                                      "its policy must let CloudWatch Logs, CloudWatch alarms and the "
                                      "Auto Scaling service-linked role use it.",
                                      cfg.security.encryption_key_arn))
            locals_["kms_key_arn"] = Expr("var.kms_key_arn")
        else:
            locals_["kms_key_arn"] = Expr("aws_kms_key.main.arn")
        self.main += [
            Block("locals", (), locals_),
            data("aws_caller_identity", "current", {}),
        ]
        if not cfg.security.encryption_key_arn:
            self.main.append(self.kms_key())
        self.main.append(resource("aws_cloudwatch_log_group", "app", {
            "name": Tpl("/pepperpy/${var.name}"),
            "retention_in_days": Expr("var.log_retention_days"),
            "kms_key_id": KMS,
        }, comment="Application logs; retention from monitoring.log_retention_days."))
        self.outs.append(output("kms_key_arn", KMS, "KMS key that encrypts the stack's data."))
        self.outs.append(output("log_group_name", Expr("aws_cloudwatch_log_group.app.name"),
                                "CloudWatch log group for application logs."))

    def kms_key(self) -> Block:
        statements: list[dict[str, Any]] = [
            {"Sid": "AccountAdministers", "Effect": "Allow",
             "Principal": {"AWS": Tpl(f"arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudWatchLogs", "Effect": "Allow",
             "Principal": {"Service": Tpl("logs.${var.region}.amazonaws.com")},
             "Action": KMS_USE, "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                       Tpl(f"arn:aws:logs:${{var.region}}:{ACCOUNT}:*")}}},
            {"Sid": "CloudWatchAlarmsToSns", "Effect": "Allow",
             "Principal": {"Service": "cloudwatch.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
            {"Sid": "AutoScalingEncryptedVolumes", "Effect": "Allow",
             "Principal": {"AWS": Tpl(f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
                                      "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")},
             "Action": [*KMS_USE, "kms:CreateGrant"], "Resource": "*"},
        ]
        return resource("aws_kms_key", "main", {
            "description": Tpl("Encrypts the data of the ${var.name} stack"),
            "enable_key_rotation": True,
            "deletion_window_in_days": 30,
            "policy": Call("jsonencode", {"Version": "2012-10-17", "Statement": statements}),
        }, comment="One customer-managed key for every encrypted resource "
                   "(set security.encryption_key_arn to bring your own).")

    # ----------------------------------------------------------------- network
    def network(self) -> None:
        net = self.net
        if net.vpc_id:
            self.vars.append(variable("vpc_id", "string", "Existing VPC (network.vpc_id).",
                                      net.vpc_id))
            self.vars.append(variable("private_subnet_ids", "list(string)",
                                      "Private subnets for workloads and data stores "
                                      "(network.subnets; empty: every subnet of the VPC).",
                                      list(net.subnets)))
            self.vars.append(variable("public_subnet_ids", "list(string)",
                                      "Public subnets for the load balancer (empty: the private ones).",
                                      []))
            self.main.append("Existing network: the stack names network.vpc_id, so no VPC is created.")
            self.main.append(data("aws_vpc", "main", {"id": Expr("var.vpc_id")}))
            self.main.append(data("aws_subnets", "vpc", {"filter": block({
                "name": "vpc-id", "values": [Expr("var.vpc_id")]})}))
            self.main.append(Block("locals", (), {
                "vpc_id": Expr("data.aws_vpc.main.id"),
                "vpc_cidr": Expr("data.aws_vpc.main.cidr_block"),
                "private_subnet_ids": Expr("length(var.private_subnet_ids) > 0 ? "
                                           "var.private_subnet_ids : data.aws_subnets.vpc.ids"),
                "public_subnet_ids": Expr("length(var.public_subnet_ids) > 0 ? "
                                          "var.public_subnet_ids : local.private_subnet_ids"),
            }))
        else:
            self.vars.append(variable("vpc_cidr", "string", "Address range of the VPC.",
                                      "10.0.0.0/16"))
            self.main += self._vpc()
        self.outs.append(output("vpc_id", VPC, "VPC the stack runs in."))
        self.outs.append(output("private_subnet_ids", PRIVATE, "Private subnets of the workloads."))

    def _vpc(self) -> list[Block | str]:
        count = Expr("length(local.azs)")
        return [
            "Network: a VPC with private subnets for workloads and data, public subnets for the "
            "load balancer and the NAT gateway, and flow logs.",
            data("aws_availability_zones", "available", {"state": "available"}),
            Block("locals", (), {
                "azs": Expr("slice(data.aws_availability_zones.available.names, 0, "
                            "min(3, length(data.aws_availability_zones.available.names)))"),
                "vpc_id": Expr("aws_vpc.main.id"),
                "vpc_cidr": Expr("aws_vpc.main.cidr_block"),
                "private_subnet_ids": Expr("aws_subnet.private[*].id"),
                "public_subnet_ids": Expr("aws_subnet.public[*].id"),
            }),
            resource("aws_vpc", "main", {
                "cidr_block": Expr("var.vpc_cidr"), "enable_dns_support": True,
                "enable_dns_hostnames": True, "tags": _tags({"Name": Expr("var.name")})}),
            resource("aws_default_security_group", "main", {"vpc_id": Expr("aws_vpc.main.id")},
                     comment="The default security group allows nothing."),
            resource("aws_subnet", "private", {
                "count": count, "vpc_id": Expr("aws_vpc.main.id"),
                "cidr_block": Expr("cidrsubnet(var.vpc_cidr, 4, count.index)"),
                "availability_zone": Expr("local.azs[count.index]"),
                "tags": _tags({"Name": Tpl("${var.name}-private-${local.azs[count.index]}"),
                               "kubernetes.io/role/internal-elb": "1"})}),
            resource("aws_subnet", "public", {
                "count": count, "vpc_id": Expr("aws_vpc.main.id"),
                "cidr_block": Expr("cidrsubnet(var.vpc_cidr, 8, 240 + count.index)"),
                "availability_zone": Expr("local.azs[count.index]"),
                "map_public_ip_on_launch": False,
                "tags": _tags({"Name": Tpl("${var.name}-public-${local.azs[count.index]}"),
                               "kubernetes.io/role/elb": "1"})}),
            resource("aws_internet_gateway", "main", {"vpc_id": Expr("aws_vpc.main.id")}),
            resource("aws_eip", "nat", {"domain": "vpc"}),
            resource("aws_nat_gateway", "main", {
                "allocation_id": Expr("aws_eip.nat.id"),
                "subnet_id": Expr("aws_subnet.public[0].id"),
                "depends_on": [Expr("aws_internet_gateway.main")]}),
            resource("aws_route_table", "public", {
                "vpc_id": Expr("aws_vpc.main.id"),
                "route": block({"cidr_block": "0.0.0.0/0",
                                "gateway_id": Expr("aws_internet_gateway.main.id")})}),
            resource("aws_route_table", "private", {
                "vpc_id": Expr("aws_vpc.main.id"),
                "route": block({"cidr_block": "0.0.0.0/0",
                                "nat_gateway_id": Expr("aws_nat_gateway.main.id")})}),
            resource("aws_route_table_association", "public", {
                "count": count, "subnet_id": Expr("aws_subnet.public[count.index].id"),
                "route_table_id": Expr("aws_route_table.public.id")}),
            resource("aws_route_table_association", "private", {
                "count": count, "subnet_id": Expr("aws_subnet.private[count.index].id"),
                "route_table_id": Expr("aws_route_table.private.id")}),
            resource("aws_cloudwatch_log_group", "flow", {
                "name": Tpl("/pepperpy/${var.name}/vpc-flow"),
                "retention_in_days": Expr("var.log_retention_days"), "kms_key_id": KMS}),
            resource("aws_iam_role", "flow", {
                "name": _name("vpc-flow"),
                "assume_role_policy": _assume("vpc-flow-logs.amazonaws.com")}),
            resource("aws_iam_role_policy", "flow", {
                "name": "write-flow-logs", "role": Expr("aws_iam_role.flow.id"),
                "policy": Call("jsonencode", {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents",
                               "logs:DescribeLogStreams"],
                    "Resource": Tpl("${aws_cloudwatch_log_group.flow.arn}:*")}]})}),
            resource("aws_flow_log", "main", {
                "vpc_id": Expr("aws_vpc.main.id"), "traffic_type": "ALL",
                "log_destination": Expr("aws_cloudwatch_log_group.flow.arn"),
                "iam_role_arn": Expr("aws_iam_role.flow.arn")}),
        ]

    # ----------------------------------------------------------------- compute
    def compute(self) -> None:
        extra = list(self.net.security_groups)
        if extra:
            self.vars.append(variable("extra_security_group_ids", "list(string)",
                                      "Security groups added to every workload "
                                      "(network.security_groups).", extra))
        if self.kube:
            self.eks()
        else:
            self.vms()

    def eks(self) -> None:
        sizing = node_sizing(self.stack, "aws", MACHINES)
        spot = self.cfg.cost_optimization.use_spot_instances
        types = [sizing.instance_type]
        if spot:
            types += [t for t in self.cfg.cost_optimization.spot_instance_types if t not in types]
        self.vars += [
            variable("kubernetes_version", "string", "EKS Kubernetes version.", "1.33"),
            variable("node_instance_types", "list(string)",
                     "Machine types of the node group (the services' instance_type).", types),
            variable("node_min_size", "number", "Fewest nodes (sum of minimum replicas).",
                     sizing.min_nodes),
            variable("node_max_size", "number", "Most nodes (sum of maximum replicas).",
                     sizing.max_nodes),
            variable("node_disk_gb", "number", "Root volume of each node, GiB.", sizing.disk_gb),
            variable("cluster_endpoint_public_access", "bool",
                     "Expose the Kubernetes API endpoint publicly (then also set "
                     "public_access_cidrs); off: reach it from inside the VPC.", False),
        ]
        node_policies = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                         "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"]
        self.main += [
            "Kubernetes: an EKS cluster with private endpoint, encrypted secrets and control-plane "
            "logs, and one managed node group sized from the services.",
            resource("aws_iam_role", "cluster", {
                "name": _name("eks-cluster"), "assume_role_policy": _assume("eks.amazonaws.com")}),
            resource("aws_iam_role_policy_attachment", "cluster", {
                "role": Expr("aws_iam_role.cluster.name"),
                "policy_arn": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"}),
            resource("aws_cloudwatch_log_group", "eks", {
                "name": Tpl("/aws/eks/${var.name}/cluster"),
                "retention_in_days": Expr("var.log_retention_days"), "kms_key_id": KMS}),
            resource("aws_eks_cluster", "main", {
                "name": Expr("var.name"),
                "role_arn": Expr("aws_iam_role.cluster.arn"),
                "version": Expr("var.kubernetes_version"),
                "enabled_cluster_log_types": ["api", "audit", "authenticator",
                                              "controllerManager", "scheduler"],
                "vpc_config": block({
                    "subnet_ids": PRIVATE, "endpoint_private_access": True,
                    "endpoint_public_access": Expr("var.cluster_endpoint_public_access"),
                    **({"security_group_ids": Expr("var.extra_security_group_ids")}
                       if self.net.security_groups else {})}),
                "encryption_config": block({"resources": ["secrets"],
                                            "provider": block({"key_arn": KMS})}),
                "access_config": block({"authentication_mode": "API",
                                        "bootstrap_cluster_creator_admin_permissions": True}),
                "depends_on": [Expr("aws_iam_role_policy_attachment.cluster"),
                               Expr("aws_cloudwatch_log_group.eks")]}),
            resource("aws_iam_role", "node", {
                "name": _name("eks-node"), "assume_role_policy": _assume("ec2.amazonaws.com")}),
            resource("aws_iam_role_policy_attachment", "node", {
                "for_each": Call("toset", [f"arn:aws:iam::aws:policy/{p}" for p in node_policies]),
                "role": Expr("aws_iam_role.node.name"), "policy_arn": Expr("each.value")}),
            resource("aws_launch_template", "node", {
                "name_prefix": _name("node-"),
                "update_default_version": True,
                "metadata_options": block({"http_endpoint": "enabled", "http_tokens": "required",
                                           "http_put_response_hop_limit": 1}),
                "block_device_mappings": block({"device_name": "/dev/xvda", "ebs": block({
                    "volume_size": Expr("var.node_disk_gb"), "volume_type": "gp3",
                    "encrypted": True, "kms_key_id": KMS, "delete_on_termination": True})}),
                "tag_specifications": block({"resource_type": "instance",
                                             "tags": _tags({"Name": _name("node")})}),
            }, comment="Nodes require IMDSv2 and boot from encrypted volumes."),
            resource("aws_eks_node_group", "main", {
                "cluster_name": Expr("aws_eks_cluster.main.name"),
                "node_group_name": _name("nodes"),
                "node_role_arn": Expr("aws_iam_role.node.arn"),
                "subnet_ids": PRIVATE,
                "instance_types": Expr("var.node_instance_types"),
                "capacity_type": "SPOT" if spot else "ON_DEMAND",
                "scaling_config": block({"desired_size": Expr("var.node_min_size"),
                                         "min_size": Expr("var.node_min_size"),
                                         "max_size": Expr("var.node_max_size")}),
                "update_config": block({"max_unavailable": 1}),
                "launch_template": block({
                    "id": Expr("aws_launch_template.node.id"),
                    "version": Expr("aws_launch_template.node.latest_version")}),
                "lifecycle": block({"ignore_changes": [
                    Expr("scaling_config[0].desired_size")]}),
                "depends_on": [Expr("aws_iam_role_policy_attachment.node")]},
                comment="The cluster autoscaler moves desired_size between min and max."),
            Block("locals", (), {"workload_security_group_id": Expr(
                "aws_eks_cluster.main.vpc_config[0].cluster_security_group_id")}),
        ]
        if self.secrets:
            self.main.append(resource("aws_iam_role_policy", "node_secrets", {
                "name": "read-stack-secrets", "role": Expr("aws_iam_role.node.id"),
                "policy": self._secrets_policy()},
                comment="Nodes may read the stack's secrets (narrow this to IRSA or Pod "
                        "Identity roles per service when the cluster runs other workloads)."))
        self.alarms.append(self._cpu_alarm(
            "nodes", "AWS/EC2", "CPUUtilization",
            {"AutoScalingGroupName": Expr(
                "aws_eks_node_group.main.resources[0].autoscaling_groups[0].name")}))
        self.outs += [
            output("cluster_name", Expr("aws_eks_cluster.main.name"), "EKS cluster name."),
            output("cluster_endpoint", Expr("aws_eks_cluster.main.endpoint"),
                   "Kubernetes API endpoint."),
        ]

    def _secrets_policy(self) -> Call:
        return Call("jsonencode", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow",
             "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
             "Resource": Expr("values(aws_secretsmanager_secret.stack)[*].arn")},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KMS}]})

    def vms(self) -> None:
        spot = self.cfg.cost_optimization.use_spot_instances
        role = self.cfg.security.iam_role
        if role:
            self.vars.append(variable("instance_role_name", "string",
                                      "Existing IAM role of the instances (security.iam_role).",
                                      role.rsplit("/", 1)[-1]))
            role_name = Expr("var.instance_role_name")
        else:
            role_name = Expr("aws_iam_role.instance.name")
        self.main += [
            "Compute: one launch template and Auto Scaling group per service, in private "
            "subnets, reached only through the load balancer.",
            data("aws_ami", "ubuntu", {
                "most_recent": True, "owners": [UBUNTU_OWNER],
                "filter": [block({"name": "name", "values": [UBUNTU_AMI]}),
                           block({"name": "virtualization-type", "values": ["hvm"]})]}),
        ]
        if not role:
            self.main += [
                resource("aws_iam_role", "instance", {
                    "name": _name("instance"), "assume_role_policy": _assume("ec2.amazonaws.com")}),
                resource("aws_iam_role_policy_attachment", "instance", {
                    "for_each": Call("toset", [
                        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                        "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]),
                    "role": Expr("aws_iam_role.instance.name"), "policy_arn": Expr("each.value")},
                    comment="Session Manager instead of SSH; the CloudWatch agent ships logs."),
            ]
        if self.secrets:
            self.main.append(resource("aws_iam_role_policy", "instance_secrets", {
                "name": "read-stack-secrets", "role": role_name,
                "policy": self._secrets_policy()}))
        self.main.append(resource("aws_iam_instance_profile", "instance", {
            "name": _name("instance"), "role": role_name}))
        ingress = []
        for name, svc in container_services(self.stack):
            if self.lb:
                ingress.append(block({
                    "description": f"{name} from the load balancer", "from_port": svc.port,
                    "to_port": svc.port, "protocol": "tcp",
                    "security_groups": [Expr("aws_security_group.lb.id")]}))
        self.main.append(resource("aws_security_group", "app", {
            "name": _name("app"), "description": "Instances of the stack's services",
            "vpc_id": VPC,
            **({"ingress": ingress} if ingress else {}),
            "egress": [
                block({"description": "HTTPS to AWS APIs and package mirrors", "from_port": 443,
                       "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}),
                block({"description": "Data stores inside the VPC", "from_port": 0,
                       "to_port": 65535, "protocol": "tcp", "cidr_blocks": [Expr("local.vpc_cidr")]}),
            ]}))
        self.main.append(Block("locals", (), {
            "workload_security_group_id": Expr("aws_security_group.app.id")}))
        workloads: list[tuple[str, Service | Component, int, int]] = [
            (n, s, s.replicas.min, s.replicas.max) for n, s in container_services(self.stack)]
        workloads += [(n, c, c.replicas, c.replicas) for n, c in self_hosted(self.stack)]
        for name, spec, low, high in workloads:
            self._asg(name, spec, low, high, spot)

    def _asg(self, name: str, spec: Service | Component, low: int, high: int, spot: bool) -> None:
        key = label(name)
        svc = spec if isinstance(spec, Service) else None
        disk = disk_gb(spec) if isinstance(spec, Service) else storage_gb(spec, 30)
        self.vars += [
            variable(f"{key}_instance_type", "string", f"Machine type of {name}.", _machine(spec)),
            variable(f"{key}_min_size", "number", f"Fewest {name} instances.", low),
            variable(f"{key}_max_size", "number", f"Most {name} instances.", high),
        ]
        groups = [Expr("aws_security_group.app.id")]
        sgs: Any = (Call("concat", groups, Expr("var.extra_security_group_ids"))
                    if self.net.security_groups else groups)
        self.main.append(resource("aws_launch_template", key, {
            "name_prefix": _name(f"{name}-"),
            "image_id": Expr("data.aws_ami.ubuntu.id"),
            "instance_type": Expr(f"var.{key}_instance_type"),
            "vpc_security_group_ids": sgs,
            "update_default_version": True,
            "iam_instance_profile": block({"arn": Expr("aws_iam_instance_profile.instance.arn")}),
            "metadata_options": block({"http_endpoint": "enabled", "http_tokens": "required",
                                       "http_put_response_hop_limit": 1}),
            "monitoring": block({"enabled": True}),
            "block_device_mappings": block({"device_name": "/dev/sda1", "ebs": block({
                "volume_size": disk, "volume_type": "gp3", "encrypted": True,
                "kms_key_id": KMS, "delete_on_termination": True})}),
            "tag_specifications": [
                block({"resource_type": "instance", "tags": _tags({"Name": _name(name)})}),
                block({"resource_type": "volume", "tags": _tags({"Name": _name(name)})}),
            ]}, comment=f"{name}: Ubuntu 24.04; install the app with the files of the 'systemd' "
                        "target (user_data or a baked image)."))
        template = {"id": Expr(f"aws_launch_template.{key}.id"), "version": "$Latest"}
        body: dict[str, Any] = {
            "name": _name(name),
            "min_size": Expr(f"var.{key}_min_size"), "max_size": Expr(f"var.{key}_max_size"),
            "vpc_zone_identifier": PRIVATE,
            "health_check_type": "ELB" if self.lb and svc else "EC2",
            "health_check_grace_period": 300,
        }
        if self.lb and svc:
            body["target_group_arns"] = [Expr(f"aws_lb_target_group.{key}.arn")]
        if spot:
            overrides = [block({"instance_type": Expr(f"var.{key}_instance_type")})]
            overrides += [block({"instance_type": t})
                          for t in self.cfg.cost_optimization.spot_instance_types]
            body["mixed_instances_policy"] = block({
                "instances_distribution": block({
                    "on_demand_base_capacity": 0,
                    "on_demand_percentage_above_base_capacity": 0,
                    "spot_allocation_strategy": "price-capacity-optimized"}),
                "launch_template": block({
                    "launch_template_specification": block({
                        "launch_template_id": Expr(f"aws_launch_template.{key}.id"),
                        "version": "$Latest"}),
                    "override": overrides})})
        else:
            body["launch_template"] = block(template)
        body["instance_refresh"] = block({"strategy": "Rolling", "preferences": block(
            {"min_healthy_percentage": 50})})
        body["tag"] = [block({"key": "Name", "value": _name(name), "propagate_at_launch": True}),
                       block({"key": "managed-by", "value": MANAGED_BY,
                              "propagate_at_launch": True}),
                       block({"key": "stack", "value": Expr("var.name"),
                              "propagate_at_launch": True})]
        body["lifecycle"] = block({"ignore_changes": [Expr("desired_capacity")]})
        self.main.append(resource("aws_autoscaling_group", key, body,
                                  comment="Spot capacity (cost_optimization.use_spot_instances)."
                                  if spot else ""))
        if svc and high > low:
            self.main.append(self._scaling_policy(key, svc))
        self.alarms.append(self._cpu_alarm(name, "AWS/EC2", "CPUUtilization", {
            "AutoScalingGroupName": Expr(f"aws_autoscaling_group.{key}.name")}))
        self.outs.append(output(f"{key}_autoscaling_group", Expr(f"aws_autoscaling_group.{key}.name"),
                                f"Auto Scaling group of {name}."))

    def _scaling_policy(self, key: str, svc: Service) -> Block:
        scaling = svc.scaling
        warmup = scaling.cooldown_seconds if scaling else 300
        if scaling and scaling.metric == "requests_per_second" and self.lb:
            metric: dict[str, Any] = {
                "predefined_metric_type": "ALBRequestCountPerTarget",
                "resource_label": Tpl(f"${{aws_lb.main.arn_suffix}}/${{aws_lb_target_group.{key}"
                                      ".arn_suffix}")}
            target: float = scaling.target * 60  # the metric counts requests per minute
            comment = "Holds requests per second per instance at the service's target."
        else:
            metric = {"predefined_metric_type": "ASGAverageCPUUtilization"}
            target = scaling.target if scaling and scaling.metric == "cpu_utilization" else 70
            comment = "Holds average CPU at the target (CPU stands in for other metrics)."
        return resource("aws_autoscaling_policy", key, {
            "name": _name(f"{key}-target-tracking"),
            "autoscaling_group_name": Expr(f"aws_autoscaling_group.{key}.name"),
            "policy_type": "TargetTrackingScaling",
            "estimated_instance_warmup": warmup,
            "target_tracking_configuration": block({
                "predefined_metric_specification": block(metric), "target_value": target})},
            comment=comment)

    # ----------------------------------------------------------------- data stores
    def databases(self) -> None:
        comps = managed(self.stack, "postgres", "mysql")
        if not comps:
            return
        self.main += [
            "Managed databases (RDS): private, encrypted, Multi-AZ, backed up, protected from "
            "deletion; the master password lives in Secrets Manager, managed by RDS.",
            resource("aws_iam_role", "rds_monitoring", {
                "name": _name("rds-monitoring"),
                "assume_role_policy": _assume("monitoring.rds.amazonaws.com")}),
            resource("aws_iam_role_policy_attachment", "rds_monitoring", {
                "role": Expr("aws_iam_role.rds_monitoring.name"),
                "policy_arn": "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"}),
        ]
        self.vars.append(variable("database_multi_az", "bool",
                                  "Run each database with a standby in a second zone.", True))
        for name, comp in comps:
            self._database(name, comp)

    def _database(self, name: str, comp: Component) -> None:
        key = label(name)
        engine, default_version, port, logs = DB_ENGINES[comp.kind]
        version = comp.version or default_version
        major = version.split(".")[0] if engine == "postgres" else ".".join(version.split(".")[:2])
        klass = comp.instance_for("aws") or (DB_BY_SIZE[comp.size] if comp.size else pick_size(
            DB_CLASSES, cpu_of(comp), memory_gb(comp)))
        storage = storage_gb(comp)
        self.vars += [
            variable(f"{key}_instance_class", "string", f"RDS class of {name}.", klass),
            variable(f"{key}_storage_gb", "number", f"Storage of {name}, GiB.", storage),
        ]
        params = [("rds.force_ssl", "1")] if engine == "postgres" else [
            ("require_secure_transport", "1")]
        if engine == "postgres":
            params += [("log_statement", "ddl"), ("log_min_duration_statement", "1000")]
        self.main += [
            resource("aws_db_subnet_group", key, {"name": _name(name), "subnet_ids": PRIVATE}),
            self._data_sg(key, name, [(port, port, f"{engine} from the workloads")]),
            resource("aws_db_parameter_group", key, {
                "name": _name(name), "family": f"{engine}{major}",
                "parameter": [block({"name": k, "value": v}) for k, v in params]},
                comment="TLS only; slow and DDL statements logged."),
            resource("aws_db_instance", key, {
                "identifier": _name(name),
                "engine": engine, "engine_version": version,
                "instance_class": Expr(f"var.{key}_instance_class"),
                "allocated_storage": Expr(f"var.{key}_storage_gb"),
                "max_allocated_storage": Expr(f"var.{key}_storage_gb * 2"),
                "storage_type": "gp3", "storage_encrypted": True, "kms_key_id": KMS,
                "db_name": "app", "username": "pepperpy", "port": port,
                "manage_master_user_password": True, "master_user_secret_kms_key_id": KMS,
                "iam_database_authentication_enabled": True,
                "db_subnet_group_name": Expr(f"aws_db_subnet_group.{key}.name"),
                "vpc_security_group_ids": [Expr(f"aws_security_group.{key}.id")],
                "parameter_group_name": Expr(f"aws_db_parameter_group.{key}.name"),
                "publicly_accessible": False, "multi_az": Expr("var.database_multi_az"),
                "ca_cert_identifier": "rds-ca-rsa2048-g1",
                "backup_retention_period": 7, "backup_window": "03:00-04:00",
                "maintenance_window": "sun:04:30-sun:05:30",
                "copy_tags_to_snapshot": True, "deletion_protection": True,
                "skip_final_snapshot": False, "final_snapshot_identifier": _name(f"{name}-final"),
                "auto_minor_version_upgrade": True,
                "enabled_cloudwatch_logs_exports": logs,
                "monitoring_interval": 60,
                "monitoring_role_arn": Expr("aws_iam_role.rds_monitoring.arn"),
                "performance_insights_enabled": True,
                "performance_insights_kms_key_id": KMS}),
        ]
        self.alarms.append(self._cpu_alarm(name, "AWS/RDS", "CPUUtilization", {
            "DBInstanceIdentifier": Expr(f"aws_db_instance.{key}.identifier")}))
        self.outs += [
            output(f"{key}_endpoint", Expr(f"aws_db_instance.{key}.endpoint"),
                   f"Host:port of {name}."),
            output(f"{key}_master_secret_arn",
                   Expr(f"aws_db_instance.{key}.master_user_secret[0].secret_arn"),
                   f"Secrets Manager entry holding {name}'s master password (managed by RDS)."),
        ]

    def _data_sg(self, key: str, name: str, ports: list[tuple[int, int, str]]) -> Block:
        return resource("aws_security_group", key, {
            "name": _name(name), "description": f"{name}: reachable from the workloads only",
            "vpc_id": VPC,
            "ingress": [block({"description": what, "from_port": lo, "to_port": hi,
                               "protocol": "tcp", "security_groups": [WORKLOADS]})
                        for lo, hi, what in ports]})

    def caches(self) -> None:
        for name, comp in managed(self.stack, "redis"):
            key = label(name)
            node = comp.instance_for("aws") or _cache_node(memory_gb(comp))
            ha = comp.replicas > 1
            self.vars += [
                variable(f"{key}_node_type", "string", f"ElastiCache node type of {name}.", node),
                variable(f"{key}_auth_token", "string",
                         f"AUTH token of {name} (16-128 characters): pass it as "
                         f"TF_VAR_{key}_auth_token, never in a file.", sensitive=True),
            ]
            self.main += [
                f"Managed Redis (ElastiCache) for {name}: encrypted at rest and in transit, AUTH "
                "token required, daily snapshots.",
                resource("aws_elasticache_subnet_group", key, {
                    "name": _name(name), "subnet_ids": PRIVATE}),
                self._data_sg(key, name, [(6379, 6379, "redis from the workloads")]),
                resource("aws_cloudwatch_log_group", f"{key}_slow", {
                    "name": Tpl(f"/pepperpy/${{var.name}}/{name}/slow-log"),
                    "retention_in_days": Expr("var.log_retention_days"), "kms_key_id": KMS}),
                resource("aws_elasticache_replication_group", key, {
                    "replication_group_id": _name(name),
                    "description": Tpl(f"{name} of the ${{var.name}} stack"),
                    "engine": "redis", "engine_version": comp.version or "7.1",
                    "node_type": Expr(f"var.{key}_node_type"),
                    "num_cache_clusters": comp.replicas, "port": 6379,
                    "parameter_group_name": "default.redis7",
                    "subnet_group_name": Expr(f"aws_elasticache_subnet_group.{key}.name"),
                    "security_group_ids": [Expr(f"aws_security_group.{key}.id")],
                    "automatic_failover_enabled": ha, "multi_az_enabled": ha,
                    "at_rest_encryption_enabled": True, "kms_key_id": KMS,
                    "transit_encryption_enabled": True,
                    "auth_token": Expr(f"var.{key}_auth_token"),
                    "snapshot_retention_limit": 7, "snapshot_window": "02:00-03:00",
                    "maintenance_window": "sun:05:00-sun:06:00",
                    "auto_minor_version_upgrade": True,
                    "log_delivery_configuration": block({
                        "destination": Expr(f"aws_cloudwatch_log_group.{key}_slow.name"),
                        "destination_type": "cloudwatch-logs", "log_format": "json",
                        "log_type": "slow-log"})}),
            ]
            self.outs.append(output(
                f"{key}_endpoint",
                Expr(f"aws_elasticache_replication_group.{key}.primary_endpoint_address"),
                f"Primary endpoint of {name} (TLS, port 6379)."))

    def queues(self) -> None:
        for name, comp in managed(self.stack, "rabbitmq"):
            key = label(name)
            explicit = comp.instance_for("aws")
            if explicit:
                cluster = explicit.endswith(("-active-standby", "-cluster"))
                host = explicit.removesuffix("-active-standby").removesuffix("-cluster")
            else:
                cluster = comp.replicas > 1
                host = "mq.m5.large" if cluster else "mq.t3.micro"
            self.vars += [
                variable(f"{key}_instance_type", "string", f"Amazon MQ broker class of {name}.",
                         host),
                variable(f"{key}_username", "string", f"Administrator of {name}.", "pepperpy"),
                variable(f"{key}_password", "string",
                         f"Administrator password of {name} (12+ characters): pass it as "
                         f"TF_VAR_{key}_password, never in a file.", sensitive=True),
            ]
            self.main += [
                f"Managed RabbitMQ (Amazon MQ) for {name}: private, encrypted with the stack key.",
                self._data_sg(key, name, [(5671, 5671, "AMQPS from the workloads"),
                                          (443, 443, "management console from the workloads")]),
                resource("aws_mq_broker", key, {
                    "broker_name": _name(name),
                    "engine_type": "RabbitMQ", "engine_version": comp.version or "3.13",
                    "host_instance_type": Expr(f"var.{key}_instance_type"),
                    "deployment_mode": "CLUSTER_MULTI_AZ" if cluster else "SINGLE_INSTANCE",
                    "publicly_accessible": False,
                    "subnet_ids": PRIVATE if cluster else [Expr("local.private_subnet_ids[0]")],
                    "security_groups": [Expr(f"aws_security_group.{key}.id")],
                    "auto_minor_version_upgrade": True,
                    "encryption_options": block({"kms_key_id": KMS, "use_aws_owned_key": False}),
                    "logs": block({"general": True}),
                    "maintenance_window_start_time": block({
                        "day_of_week": "SUNDAY", "time_of_day": "03:00", "time_zone": "UTC"}),
                    "user": block({"username": Expr(f"var.{key}_username"),
                                   "password": Expr(f"var.{key}_password")})}),
            ]
            self.outs.append(output(f"{key}_endpoints",
                                    Expr(f"aws_mq_broker.{key}.instances[0].endpoints"),
                                    f"AMQPS endpoints of {name}."))

    def buckets(self) -> None:
        buckets = bucket_names(self.stack)
        if not buckets:
            return
        self.main.append("Object storage (S3): private, KMS-encrypted, versioned, public access "
                         "blocked, TLS required, old versions expire.")
        for name, versioning, private in buckets:
            key = label(name)
            ref = f"aws_s3_bucket.{key}"
            self.main += [
                resource("aws_s3_bucket", key, {
                    "bucket": Tpl(f"${{var.name}}-{name}-{ACCOUNT}"),
                    "force_destroy": False}),
                resource("aws_s3_bucket_ownership_controls", key, {
                    "bucket": Expr(f"{ref}.id"),
                    "rule": block({"object_ownership": "BucketOwnerEnforced"})}),
                resource("aws_s3_bucket_public_access_block", key, {
                    "bucket": Expr(f"{ref}.id"), "block_public_acls": True,
                    "block_public_policy": private, "ignore_public_acls": True,
                    "restrict_public_buckets": private},
                    comment="" if private else f"{name} is public-read: only its policy may "
                                               "grant public reads."),
                resource("aws_s3_bucket_versioning", key, {
                    "bucket": Expr(f"{ref}.id"),
                    "versioning_configuration": block(
                        {"status": "Enabled" if versioning else "Suspended"})}),
                resource("aws_s3_bucket_server_side_encryption_configuration", key, {
                    "bucket": Expr(f"{ref}.id"),
                    "rule": block({"bucket_key_enabled": True,
                                   "apply_server_side_encryption_by_default": block({
                                       "sse_algorithm": "aws:kms",
                                       "kms_master_key_id": KMS})})}),
                resource("aws_s3_bucket_lifecycle_configuration", key, {
                    "bucket": Expr(f"{ref}.id"),
                    "rule": block({
                        "id": "tidy", "status": "Enabled", "filter": block({}),
                        "abort_incomplete_multipart_upload": block({"days_after_initiation": 7}),
                        "noncurrent_version_expiration": block({"noncurrent_days": 90})})}),
                resource("aws_s3_bucket_policy", key, {
                    "bucket": Expr(f"{ref}.id"),
                    "policy": Call("jsonencode", {"Version": "2012-10-17", "Statement": [
                        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*",
                         "Action": "s3:*",
                         "Resource": [Expr(f"{ref}.arn"), Tpl(f"${{{ref}.arn}}/*")],
                         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                        *([] if private else [{
                            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                            "Action": "s3:GetObject", "Resource": Tpl(f"${{{ref}.arn}}/*")}]),
                    ]}),
                    "depends_on": [Expr(f"aws_s3_bucket_public_access_block.{key}")]}),
            ]
            self.outs.append(output(f"bucket_{key}", Expr(f"{ref}.bucket"),
                                    f"S3 bucket '{name}'."))

    def secrets_store(self) -> None:
        if not self.secrets:
            return
        commands = "\n".join(
            f"  aws secretsmanager put-secret-value --secret-id {self.stack.name}/{n} "
            "--secret-string file://VALUE_FILE" for n in self.secrets)
        self.main.append(resource("aws_secretsmanager_secret", "stack", {
            "for_each": Call("toset", list(self.secrets)),
            "name": Tpl("${var.name}/${each.value}"),
            "description": Tpl("${each.value} of the ${var.name} stack (value set with the CLI)"),
            "kms_key_id": KMS, "recovery_window_in_days": 7},
            comment="The secrets the services reference as ${SECRET:name}. They are created "
                    "empty: no value is ever\nwritten here or in the state. Set each value "
                    f"with the AWS CLI:\n{commands}"))
        self.outs.append(output("secret_arns", Expr(
            "{ for k, s in aws_secretsmanager_secret.stack : k => s.arn }"),
            "Secrets Manager ARNs by secret name (values are set with the CLI)."))

    # ----------------------------------------------------------------- edge
    def load_balancer(self) -> None:
        services = container_services(self.stack)
        if not self.lb or not services:
            return
        net = self.net
        if net.ssl_certificate_arn:
            self.vars.append(variable("certificate_arn", "string",
                                      "ACM certificate of the HTTPS listener "
                                      "(network.ssl_certificate_arn).", net.ssl_certificate_arn))
            cert: Expr = Expr("var.certificate_arn")
        elif net.custom_domain:
            self.vars.append(variable("domain_name", "string",
                                      "Domain served over HTTPS (network.custom_domain).",
                                      net.custom_domain))
            self.main.append(resource("aws_acm_certificate", "main", {
                "domain_name": Expr("var.domain_name"), "validation_method": "DNS",
                "lifecycle": block({"create_before_destroy": True})},
                comment="Create the DNS records of output certificate_validation to validate it."))
            self.outs.append(output("certificate_validation", Expr(
                "aws_acm_certificate.main.domain_validation_options"),
                "DNS records that validate the certificate."))
            cert = Expr("aws_acm_certificate.main.arn")
        else:
            self.vars.append(variable("certificate_arn", "string",
                                      "ACM certificate ARN of the HTTPS listener (set "
                                      "network.ssl_certificate_arn or custom_domain in the stack, "
                                      "or pass it here)."))
            cert = Expr("var.certificate_arn")
        target_type = "ip" if self.kube else "instance"
        egress = [block({"description": f"{n} in the VPC", "from_port": s.port,
                         "to_port": s.port, "protocol": "tcp",
                         "cidr_blocks": [Expr("local.vpc_cidr")]}) for n, s in services]
        self.main += [
            "Load balancer: an internet-facing ALB, HTTPS only (HTTP redirects), TLS 1.2+, "
            "invalid headers dropped.",
            resource("aws_security_group", "lb", {
                "name": _name("lb"), "description": "Public HTTPS entry point", "vpc_id": VPC,
                "ingress": [
                    block({"description": "HTTPS from anywhere", "from_port": 443,
                           "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}),
                    block({"description": "HTTP from anywhere, redirected to HTTPS",
                           "from_port": 80, "to_port": 80, "protocol": "tcp",
                           "cidr_blocks": ["0.0.0.0/0"]})],
                "egress": egress}),
            resource("aws_lb", "main", {
                "name": Tpl("${substr(var.name, 0, 28)}-alb"),
                "internal": False, "load_balancer_type": "application",
                "security_groups": [Expr("aws_security_group.lb.id")],
                "subnets": Expr("local.public_subnet_ids"),
                "drop_invalid_header_fields": True, "enable_deletion_protection": True}),
        ]
        for name, svc in services:
            key = label(name)
            self.main.append(resource("aws_lb_target_group", key, {
                "name": Tpl("${substr(var.name, 0, 16)}-" + name[:15]),
                "port": svc.port, "protocol": "HTTP", "vpc_id": VPC,
                "target_type": target_type, "deregistration_delay": 30,
                "health_check": block({"path": svc.health_path, "matcher": "200-399",
                                       "interval": 15, "healthy_threshold": 2,
                                       "unhealthy_threshold": 3})},
                comment=(f"{name}: bind pods with a TargetGroupBinding of the AWS Load Balancer "
                         "Controller." if self.kube else "")))
        first = label(services[0][0])
        self.main += [
            resource("aws_lb_listener", "https", {
                "load_balancer_arn": Expr("aws_lb.main.arn"), "port": 443, "protocol": "HTTPS",
                "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "certificate_arn": cert,
                "default_action": block({"type": "forward",
                                         "target_group_arn": Expr(f"aws_lb_target_group.{first}.arn")})},
                comment=f"Requests go to {services[0][0]}; route other services with "
                        "aws_lb_listener_rule." if len(services) > 1 else ""),
            resource("aws_lb_listener", "http", {
                "load_balancer_arn": Expr("aws_lb.main.arn"), "port": 80, "protocol": "HTTP",
                "default_action": block({"type": "redirect", "redirect": block({
                    "port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"})})}),
        ]
        self.outs.append(output("load_balancer_dns_name", Expr("aws_lb.main.dns_name"),
                                "Point the domain's DNS at this name."))
        if self.kube:
            self.outs.append(output("target_group_arns", {
                name: Expr(f"aws_lb_target_group.{label(name)}.arn") for name, _ in services},
                "Target groups to bind pods to (TargetGroupBinding)."))

    def waf(self) -> None:
        sec = self.cfg.security
        if not sec.enable_waf:
            return
        groups: list[str] = []
        rate_limit = False
        for rule in sec.waf_rules or DEFAULT_WAF:
            if rule in ("rate-limit", "rate_limit"):
                rate_limit = True
                continue
            group = WAF_RULES.get(rule.lower(), rule if rule.startswith("AWSManagedRules") else "")
            if group and group not in groups:
                groups.append(group)
        if "AWSManagedRulesKnownBadInputsRuleSet" not in groups:
            groups.append("AWSManagedRulesKnownBadInputsRuleSet")  # Log4j and friends, always
        rules = []
        for priority, group in enumerate(groups, start=1):
            rules.append(block({
                "name": group, "priority": priority,
                "override_action": block({"none": block({})}),
                "statement": block({"managed_rule_group_statement": block({
                    "name": group, "vendor_name": "AWS"})}),
                "visibility_config": block({"cloudwatch_metrics_enabled": True,
                                            "metric_name": group, "sampled_requests_enabled": True}),
            }))
        if rate_limit:
            rules.append(block({
                "name": "rate-limit", "priority": len(groups) + 1,
                "action": block({"block": block({})}),
                "statement": block({"rate_based_statement": block({
                    "limit": 2000, "aggregate_key_type": "IP"})}),
                "visibility_config": block({"cloudwatch_metrics_enabled": True,
                                            "metric_name": "rate-limit",
                                            "sampled_requests_enabled": True}),
            }))
        ignored = [r for r in sec.waf_rules if r.lower() not in WAF_RULES
                   and not r.startswith("AWSManagedRules") and r not in ("rate-limit", "rate_limit")]
        comment = "WAF (security.enable_waf) with the rules of security.waf_rules."
        if ignored:
            comment += f"\nNot AWS rules, left out: {', '.join(ignored)}."
        self.main += [
            resource("aws_wafv2_web_acl", "main", {
                "name": _name("waf"), "scope": "REGIONAL",
                "default_action": block({"allow": block({})}),
                "rule": rules,
                "visibility_config": block({"cloudwatch_metrics_enabled": True,
                                            "metric_name": _name("waf"),
                                            "sampled_requests_enabled": True})},
                comment=comment),
            resource("aws_cloudwatch_log_group", "waf", {
                "name": Tpl("aws-waf-logs-${var.name}"),
                "retention_in_days": Expr("var.log_retention_days"), "kms_key_id": KMS}),
            resource("aws_wafv2_web_acl_logging_configuration", "main", {
                "log_destination_configs": [Expr("aws_cloudwatch_log_group.waf.arn")],
                "resource_arn": Expr("aws_wafv2_web_acl.main.arn")}),
        ]
        if self.lb and container_services(self.stack):
            self.main.append(resource("aws_wafv2_web_acl_association", "main", {
                "resource_arn": Expr("aws_lb.main.arn"),
                "web_acl_arn": Expr("aws_wafv2_web_acl.main.arn")}))
        self.outs.append(output("waf_acl_arn", Expr("aws_wafv2_web_acl.main.arn"), "WAF web ACL."))

    # ----------------------------------------------------------------- watch and budget
    def _cpu_alarm(self, name: str, namespace: str, metric: str,
                   dimensions: dict[str, Any]) -> Block:
        return resource("aws_cloudwatch_metric_alarm", f"{label(name)}_cpu_high", {
            "alarm_name": _name(f"{name}-cpu-high"),
            "alarm_description": f"{name}: average CPU above 80% for 15 minutes",
            "namespace": namespace, "metric_name": metric, "statistic": "Average",
            "period": 300, "evaluation_periods": 3, "threshold": 80,
            "comparison_operator": "GreaterThanThreshold", "treat_missing_data": "notBreaching",
            "dimensions": dimensions,
            "alarm_actions": Expr("local.alarm_actions"), "ok_actions": Expr("local.alarm_actions")})

    def monitoring(self) -> None:
        if not self.alarms:
            return
        chans = notifications(self.stack)
        actions: list[Any] = [Expr("aws_sns_topic.alerts.arn"), *chans["sns"]]
        self.main += [
            "Alarms: CPU high on every compute group and database, sent to an encrypted SNS "
            "topic (monitoring.alert_notifications subscribe to it).",
            resource("aws_sns_topic", "alerts", {"name": _name("alerts"),
                                                 "kms_master_key_id": KMS}),
            Block("locals", (), {"alarm_actions": actions}),
        ]
        subs = [("email", t) for t in chans["email"]]
        subs += [("https", t) for t in chans["webhook"] + chans["slack"]]
        for index, (protocol, endpoint) in enumerate(subs, start=1):
            self.main.append(resource("aws_sns_topic_subscription", f"alert_{index}", {
                "topic_arn": Expr("aws_sns_topic.alerts.arn"), "protocol": protocol,
                "endpoint": endpoint}))
        self.main += self.alarms
        self.outs.append(output("alerts_topic_arn", Expr("aws_sns_topic.alerts.arn"),
                                "SNS topic the alarms notify."))

    def budget(self) -> None:
        cost = self.cfg.cost_optimization
        if cost.budget_alert_threshold is None:
            return
        emails = [cost.budget_alert_email] if cost.budget_alert_email else list(
            notifications(self.stack)["email"])
        self.vars += [
            variable("monthly_budget_usd", "number",
                     "Monthly budget in USD (cost_optimization.budget_alert_threshold).",
                     cost.budget_alert_threshold),
            variable("budget_alert_emails", "list(string)",
                     "Who is emailed as spend nears the budget "
                     "(cost_optimization.budget_alert_email).", emails),
        ]
        notices = [
            block({"comparison_operator": "GREATER_THAN", "threshold": 80,
                   "threshold_type": "PERCENTAGE", "notification_type": "FORECASTED",
                   "subscriber_email_addresses": Expr("var.budget_alert_emails")}),
            block({"comparison_operator": "GREATER_THAN", "threshold": 100,
                   "threshold_type": "PERCENTAGE", "notification_type": "ACTUAL",
                   "subscriber_email_addresses": Expr("var.budget_alert_emails")}),
        ] if emails else []
        comment = ("Budget (cost_optimization.budget_alert_threshold) over the resources tagged "
                   "stack = <name>;\nactivate 'stack' as a cost allocation tag in the Billing "
                   "console.")
        if not emails:
            comment += ("\nNo budget_alert_email or email: channel in the stack, so nobody is "
                        "notified.")
        self.main.append(resource("aws_budgets_budget", "monthly", {
            "name": _name("monthly"), "budget_type": "COST",
            "limit_amount": Expr("tostring(var.monthly_budget_usd)"), "limit_unit": "USD",
            "time_unit": "MONTHLY",
            "cost_filter": block({"name": "TagKeyValue",
                                  "values": [Expr('format("user:stack$%s", var.name)')]}),
            **({"notification": notices} if notices else {})}, comment=comment))

    def render(self) -> Files:
        self.foundations()
        self.network()
        self.compute()
        self.databases()
        self.caches()
        self.queues()
        self.buckets()
        self.secrets_store()
        self.load_balancer()
        self.waf()
        self.monitoring()
        self.budget()
        versions: list[Block | str] = [
            terraform_block("aws", "hashicorp/aws", "~> 5.0"),
            Block("provider", ("aws",), {"region": Expr("var.region"),
                                         "default_tags": block({"tags": Expr("local.tags")})},
                  comment="Every resource carries managed-by = pepperpy-cloud and stack = <name>."),
        ]
        return files(self.stack, versions, self.vars, self.main, self.outs, "AWS")


def _cache_node(mem: Any) -> str:
    nodes = sorted(((gib, name) for (cloud, name), gib in CACHE_MEMORY_GIB.items()
                    if cloud == "aws"), key=lambda x: x[0])
    return next((name for gib, name in nodes if gib >= mem), nodes[-1][1])


def render(stack: Stack) -> Files:
    """versions.tf, variables.tf, main.tf and outputs.tf for AWS."""
    return _Aws(stack).render()
