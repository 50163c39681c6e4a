"""Terraform for AWS, Azure and GCP: formatted, parseable, complete, secure, CloudConfig-aware.

Every example stack and four CloudConfig variants are rendered for the three clouds into one
directory tree; ``terraform fmt`` and checkov each run once over the whole tree (checkov
keeps every module directory apart, and one run costs a few seconds instead of a dozen).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from pepperpy.cloud.render import render, write
from pepperpy.cloud.spec.stack import Stack
from tests.render.conftest import STACKS, load_stack

CLOUDS = ("aws", "azure", "gcp")

# Checks that fail by design, one reason each. Anything else checkov reports fails the test.
SKIPS: dict[str, dict[str, str]] = {
    "aws": {
        "CKV_AWS_338": "log retention follows monitoring.log_retention_days (30 days by default); "
                       "raise it in the stack to keep logs a year",
        "CKV_AWS_260": "port 80 is open only to redirect to HTTPS (the listener answers 301)",
        "CKV_AWS_91": "ALB access logs need an SSE-S3 bucket of their own (ALB cannot write to a "
                      "KMS-encrypted one); CloudWatch request metrics and WAF logs cover traffic",
        "CKV_AWS_18": "S3 server access logs need yet another bucket, which would fail this "
                      "same check; CloudTrail data events are the auditable alternative",
        "CKV2_AWS_62": "nothing consumes bucket events; notifications would only add cost",
        "CKV_AWS_144": "cross-region replication doubles storage cost; versioning and KMS already "
                       "protect the backups bucket, replicate when DR requires it",
        "CKV2_AWS_57": "secret values are third-party API keys set with the CLI; no rotation "
                       "Lambda can rotate them",
        "CKV2_AWS_28": "WAF is opt-in (security.enable_waf) since it bills per rule and request; "
                       "the CloudConfig variants render it",
        "CKV2_AWS_76": "it demands AWSManagedRulesAnonymousIpList, which blocks VPN and hosting "
                       "traffic; KnownBadInputs (Log4j) is always on, add 'anonymous-ip' to "
                       "waf_rules for the rest",
        "CKV_AWS_394": "subnets take the first three zones of the region's sorted zone list; zone "
                       "names differ per account, so they cannot be pinned in generated code",
    },
    "azure": {
        "CKV_AZURE_189": "the vault firewall denies by default (admin_ip_ranges and Azure services "
                         "only); turning public access off entirely would lock out the terraform "
                         "runner unless it runs inside the VNet",
        "CKV_AZURE_160": "port 80 is open only to redirect to HTTPS on the Application Gateway",
        "CKV_AZURE_226": "ephemeral OS disks need a local disk the stack's sizes (Dsv5) lack",
        "CKV_AZURE_201": "customer-managed keys need Service Bus Premium (~$680/month); the stack's "
                         "estimate prices Standard (servicebus_sku switches)",
        "CKV_AZURE_199": "double encryption needs Service Bus Premium, as above",
        "CKV_AZURE_204": "private access needs Service Bus Premium, as above; local (SAS) auth is "
                         "off, so only Entra identities get in",
        "CKV_AZURE_33": "the account serves no queues; queue logging would need data-plane access "
                        "through the closed storage firewall",
        "CKV_AZURE_120": "WAF is opt-in (security.enable_waf); the CloudConfig variants render it",
        "CKV2_AZURE_21": "it wants azurerm_log_analytics_storage_insights, which needs the shared "
                         "key that is disabled; blob reads, writes and deletes go to Log Analytics "
                         "through a diagnostic setting instead",
    },
    "gcp": {
        "CKV_GCP_62": "bucket access logs need another bucket, which would fail this same check; "
                      "Cloud Audit data-access logs are the alternative",
        "CKV_GCP_65": "Google Groups for RBAC needs a Workspace domain the stack does not know",
        "CKV_GCP_6": "ssl_mode ENCRYPTED_ONLY enforces TLS; requiring client certificates would "
                     "force every client through a Cloud SQL connector",
        "CKV_GCP_79": "the stack pins its engine version (kv-store: PostgreSQL 16); set "
                      "components.<db>.version to move",
        "CKV_GCP_69": "flags the cluster's own node_config, which only shapes the default pool that "
                      "remove_default_node_pool deletes; the workload pool sets GKE_METADATA "
                      "(asserted in test_gke_nodes_use_the_metadata_server)",
    },
}

FULL_CONFIG: dict[str, Any] = {
    "network": {"vpc_id": "vpc-12345", "subnets": ["subnet-1", "subnet-2", "subnet-3"],
                "security_groups": ["sg-12345"], "custom_domain": "api.example.com",
                "ssl_certificate_arn": "arn:aws:acm:us-west-2:123456789012:certificate/abcdef"},
    "security": {"encryption_key_arn": "arn:aws:kms:us-west-2:123456789012:key/abcdef",
                 "iam_role": "arn:aws:iam::123456789012:role/pepperpy-app-role",
                 "enable_waf": True,
                 "waf_rules": ["AWSManagedRulesCommonRuleSet", "sqli", "rate-limit"]},
    "monitoring": {"log_retention_days": 90,
                   "alert_notifications": ["email:admin@example.com",
                                           "sns:arn:aws:sns:us-west-2:123456789012:alerts",
                                           "webhook:https://hooks.example.com/alerts"]},
    "cost_optimization": {"use_spot_instances": True,
                          "spot_instance_types": ["t3.large", "m5.large"],
                          "budget_alert_threshold": 100,
                          "budget_alert_email": "finance@example.com"},
}


def configured(base: str, hosting: str) -> Stack:
    """An example stack with every CloudConfig option of seed 000 turned on."""
    data = load_stack(base).model_dump(mode="json", exclude_unset=True)
    data.update(name=f"full-{hosting}", hosting=hosting, cloud=FULL_CONFIG)
    return Stack.model_validate(data)


VARIANTS: dict[str, Stack] = {}


def variants() -> dict[str, Stack]:
    if not VARIANTS:
        VARIANTS.update({name: load_stack(name) for name in sorted(STACKS)})
        VARIANTS["full-kubernetes"] = configured("kv-store", "kubernetes")
        VARIANTS["full-vm"] = configured("bsc-rag", "vm")
    return VARIANTS


def module(tree: Path, variant: str, cloud: str) -> Path:
    return tree / variant / "terraform" / cloud


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every variant rendered for the three clouds: <tree>/<variant>/terraform/<cloud>/*.tf."""
    root = tmp_path_factory.mktemp("terraform")
    for name, stack in variants().items():
        files: dict[str, str] = {}
        for cloud in CLOUDS:
            files.update(render(stack, f"terraform-{cloud}"))
        write(files, root / name)
    return root


def parse(folder: Path) -> dict[str, list[Any]]:
    """All .tf files of a folder parsed with python-hcl2 and merged by top-level key."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open(encoding="utf-8") as fh:
            for key, value in hcl2.load(fh).items():
                merged.setdefault(key, []).extend(value)
    return merged


def unquote(text: str) -> str:
    return text[1:-1] if isinstance(text, str) and text.startswith('"') else text


def resources(doc: dict[str, list[Any]], kind: str = "resource") -> dict[str, dict[str, Any]]:
    """{"type.name": body} of the resources (or data sources) of a parsed module."""
    out: dict[str, dict[str, Any]] = {}
    for entry in doc.get(kind, []):
        for rtype, named in entry.items():
            for rname, body in named.items():
                out[f"{unquote(rtype)}.{unquote(rname)}"] = body
    return out


def types(doc: dict[str, list[Any]]) -> set[str]:
    return {key.split(".")[0] for key in resources(doc)}


def of_type(doc: dict[str, list[Any]], rtype: str) -> list[dict[str, Any]]:
    return [body for key, body in resources(doc).items() if key.split(".")[0] == rtype]


def variables(doc: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    return {unquote(name): body for entry in doc.get("variable", []) for name, body in entry.items()}


@pytest.fixture(scope="module")
def parsed(tree: Path) -> dict[tuple[str, str], dict[str, list[Any]]]:
    return {(variant, cloud): parse(module(tree, variant, cloud))
            for variant in variants() for cloud in CLOUDS}


@pytest.fixture(scope="module")
def checkov(tree: Path, tool: Any) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Failed checks (check id, resource) per (variant, cloud), from one checkov run."""
    binary = tool("checkov")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run([binary, "-d", str(tree), "--framework", "terraform", "--skip-download",
                           "--quiet", "--compact", "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.stdout.strip(), f"checkov printed nothing: {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed: dict[tuple[str, str], list[tuple[str, str]]] = {
        (v, c): [] for v in variants() for c in CLOUDS}
    counted = 0
    for rep in reports:
        counted += rep.get("summary", {}).get("resource_count", 0)
        assert rep.get("summary", {}).get("parsing_errors", 0) == 0, rep["summary"]
        for item in rep.get("results", {}).get("failed_checks", []):
            variant, _, cloud = Path(item["file_path"]).parts[1:4]
            failed[(variant, cloud)].append((item["check_id"], item["resource"]))
    assert counted > 100, "checkov scanned almost nothing: is the tree empty?"
    return failed


# --------------------------------------------------------------------------- format and syntax


def test_terraform_fmt_accepts_the_files_as_rendered(tree: Path, tool: Any) -> None:
    proc = subprocess.run([tool("terraform"), "fmt", "-check", "-diff", "-recursive", str(tree)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull})
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_file_parses_and_starts_with_the_header(tree: Path, cloud: str) -> None:
    for variant in variants():
        folder = module(tree, variant, cloud)
        assert sorted(p.name for p in folder.glob("*.tf")) == [
            "main.tf", "outputs.tf", "variables.tf", "versions.tf"]
        for path in folder.glob("*.tf"):
            text = path.read_text(encoding="utf-8")
            assert text.startswith(f"# Generated by pepperpy-cloud from the stack '{variant}'")
            assert "terraform.tfvars" in text.splitlines()[1]
            with path.open(encoding="utf-8") as fh:
                hcl2.load(fh)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_rendering_is_deterministic(cloud: str) -> None:
    for stack in variants().values():
        assert render(stack, f"terraform-{cloud}") == render(stack, f"terraform-{cloud}")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_providers_are_pinned_to_a_major_version(parsed: dict, cloud: str) -> None:
    doc = parsed[("kv-store", cloud)]
    terraform = doc["terraform"][0]
    assert terraform["required_version"] == '">= 1.5.0"'
    providers = terraform["required_providers"][0]
    main = {"aws": "aws", "azure": "azurerm", "gcp": "google"}[cloud]
    assert providers[main]["version"].startswith('"~> ')


# --------------------------------------------------------------------------- what is in there

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("kv-store", "aws"): {"aws_vpc", "aws_subnet", "aws_nat_gateway", "aws_flow_log",
                          "aws_eks_cluster", "aws_eks_node_group", "aws_db_instance",
                          "aws_elasticache_replication_group", "aws_mq_broker", "aws_s3_bucket",
                          "aws_s3_bucket_public_access_block", "aws_lb", "aws_lb_listener",
                          "aws_kms_key", "aws_cloudwatch_log_group", "aws_cloudwatch_metric_alarm",
                          "aws_sns_topic"},
    ("bsc-rag", "aws"): {"aws_vpc", "aws_launch_template", "aws_autoscaling_group",
                         "aws_autoscaling_policy", "aws_s3_bucket", "aws_lb", "aws_lb_listener",
                         "aws_secretsmanager_secret", "aws_kms_key",
                         "aws_cloudwatch_metric_alarm"},
    ("kv-store", "azure"): {"azurerm_virtual_network", "azurerm_subnet",
                            "azurerm_kubernetes_cluster", "azurerm_kubernetes_cluster_node_pool",
                            "azurerm_postgresql_flexible_server", "azurerm_redis_cache",
                            "azurerm_servicebus_namespace", "azurerm_servicebus_queue",
                            "azurerm_storage_account", "azurerm_storage_container",
                            "azurerm_application_gateway", "azurerm_key_vault",
                            "azurerm_key_vault_key", "azurerm_log_analytics_workspace",
                            "azurerm_monitor_metric_alert", "azurerm_private_endpoint",
                            "azurerm_management_lock"},
    ("bsc-rag", "azure"): {"azurerm_virtual_network", "azurerm_linux_virtual_machine_scale_set",
                           "azurerm_monitor_autoscale_setting", "azurerm_storage_account",
                           "azurerm_application_gateway", "azurerm_key_vault",
                           "azurerm_monitor_metric_alert"},
    ("kv-store", "gcp"): {"google_compute_network", "google_compute_subnetwork",
                          "google_compute_router_nat", "google_container_cluster",
                          "google_container_node_pool", "google_sql_database_instance",
                          "google_redis_instance", "google_pubsub_topic",
                          "google_pubsub_subscription", "google_storage_bucket",
                          "google_compute_global_address", "google_kms_crypto_key",
                          "google_logging_project_bucket_config",
                          "google_monitoring_alert_policy"},
    ("bsc-rag", "gcp"): {"google_compute_network", "google_compute_instance_template",
                         "google_compute_region_instance_group_manager",
                         "google_compute_region_autoscaler", "google_storage_bucket",
                         "google_compute_backend_service", "google_compute_target_https_proxy",
                         "google_compute_global_forwarding_rule", "google_secret_manager_secret",
                         "google_kms_crypto_key", "google_monitoring_alert_policy"},
}
# What a stack must not get: the other hosting's compute, data stores it does not declare.
ABSENT: dict[tuple[str, str], set[str]] = {
    ("kv-store", "aws"): {"aws_autoscaling_group", "aws_secretsmanager_secret"},
    ("bsc-rag", "aws"): {"aws_eks_cluster", "aws_db_instance", "aws_elasticache_replication_group",
                         "aws_mq_broker"},
    ("kv-store", "azure"): {"azurerm_linux_virtual_machine_scale_set"},
    ("bsc-rag", "azure"): {"azurerm_kubernetes_cluster", "azurerm_postgresql_flexible_server",
                           "azurerm_redis_cache", "azurerm_servicebus_namespace"},
    ("kv-store", "gcp"): {"google_compute_instance_template", "google_secret_manager_secret"},
    ("bsc-rag", "gcp"): {"google_container_cluster", "google_sql_database_instance",
                         "google_redis_instance", "google_pubsub_topic"},
}
# Defaults that CloudConfig turns on: none of them without it.
OPT_IN = {"aws": {"aws_wafv2_web_acl", "aws_budgets_budget"},
          "azure": {"azurerm_web_application_firewall_policy",
                    "azurerm_consumption_budget_resource_group"},
          "gcp": {"google_compute_security_policy", "google_billing_budget"}}


@pytest.mark.parametrize(("stack", "cloud"), sorted(EXPECTED))
def test_the_stack_gets_the_services_of_seed_003(parsed: dict, stack: str, cloud: str) -> None:
    found = types(parsed[(stack, cloud)])
    assert EXPECTED[(stack, cloud)] <= found, EXPECTED[(stack, cloud)] - found
    assert not ABSENT[(stack, cloud)] & found
    assert not OPT_IN[cloud] & found


def test_sizes_come_from_the_stack(parsed: dict) -> None:
    kv = variables(parsed[("kv-store", "aws")])
    assert kv["node_instance_types"]["default"] == ['"m5.large"']
    assert (kv["node_min_size"]["default"], kv["node_max_size"]["default"]) == (3, 6)
    assert kv["database_instance_class"]["default"] == '"db.r5.large"'
    assert kv["database_storage_gb"]["default"] == 100
    assert kv["redis_node_type"]["default"] == '"cache.m5.large"'
    assert kv["broker_instance_type"]["default"] == '"mq.m5.large"'
    broker = resources(parsed[("kv-store", "aws")])["aws_mq_broker.broker"]
    assert broker["deployment_mode"] == '"CLUSTER_MULTI_AZ"'
    redis = resources(parsed[("kv-store", "aws")])["aws_elasticache_replication_group.redis"]
    assert redis["num_cache_clusters"] == 3
    rag = variables(parsed[("bsc-rag", "aws")])
    assert (rag["app_min_size"]["default"], rag["app_max_size"]["default"]) == (1, 2)
    assert rag["app_instance_type"]["default"] == '"t3.large"'
    assert rag["region"]["default"] == '"us-east-1"'
    assert variables(parsed[("bsc-rag", "azure")])["app_vm_size"]["default"] == '"Standard_B4ms"'
    assert variables(parsed[("bsc-rag", "gcp")])["app_machine_type"]["default"] == '"e2-standard-4"'
    assert variables(parsed[("kv-store", "gcp")])["region"]["default"] == '"us-central1"'
    assert variables(parsed[("kv-store", "azure")])["database_sku"]["default"] == \
        '"MO_Standard_E4s_v3"'


def test_data_stores_are_private_encrypted_and_protected(parsed: dict) -> None:
    aws = resources(parsed[("kv-store", "aws")])
    db = aws["aws_db_instance.database"]
    assert db["storage_encrypted"] is True and db["publicly_accessible"] is False
    assert db["deletion_protection"] is True and db["backup_retention_period"] >= 7
    assert db["manage_master_user_password"] is True and "password" not in db
    block = aws["aws_s3_bucket_public_access_block.backups"]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy",
                                          "ignore_public_acls", "restrict_public_buckets"))
    azure = resources(parsed[("kv-store", "azure")])
    server = azure["azurerm_postgresql_flexible_server.database"]
    assert server["public_network_access_enabled"] is False
    assert server["authentication"][0]["password_auth_enabled"] is False
    assert azure["azurerm_storage_account.main"]["shared_access_key_enabled"] is False
    gcp = resources(parsed[("kv-store", "gcp")])
    sql = gcp["google_sql_database_instance.database"]
    assert sql["deletion_protection"] is True
    assert sql["settings"][0]["ip_configuration"][0]["ipv4_enabled"] is False
    assert sql["settings"][0]["backup_configuration"][0]["enabled"] is True
    assert gcp["google_storage_bucket.backups"]["public_access_prevention"] == '"enforced"'


def test_gke_nodes_use_the_metadata_server(parsed: dict) -> None:
    pool = resources(parsed[("kv-store", "gcp")])["google_container_node_pool.apps"]
    config = pool["node_config"][0]
    assert config["workload_metadata_config"][0]["mode"] == '"GKE_METADATA"'


@pytest.mark.parametrize("cloud", CLOUDS)
def test_everything_is_tagged_with_the_stack(parsed: dict, cloud: str) -> None:
    doc = parsed[("kv-store", cloud)]
    local_tags = next(e for e in doc["locals"] if "tags" in e or "labels" in e)
    tags = local_tags.get("tags") or local_tags["labels"]
    assert tags['"managed-by"'] == '"pepperpy-cloud"' and tags["stack"] == "${var.name}"
    providers = {unquote(k): v for e in doc["provider"] for k, v in e.items()}
    if cloud == "aws":
        assert providers["aws"]["default_tags"][0]["tags"] == "${local.tags}"
    elif cloud == "gcp":
        assert providers["google"]["default_labels"] == "${local.labels}"
    else:
        from pepperpy.cloud.render.terraform_azure import TAGGABLE

        for key, body in resources(doc).items():
            if key.split(".")[0] in TAGGABLE:
                assert body.get("tags") == "${local.tags}", key


# --------------------------------------------------------------------------- checkov


@pytest.mark.parametrize("cloud", CLOUDS)
def test_checkov_finds_nothing_but_the_documented_skips(checkov: dict, cloud: str) -> None:
    unexpected = {(variant, check, res) for (variant, c), fails in checkov.items() if c == cloud
                  for check, res in fails if check not in SKIPS[cloud]}
    assert not unexpected, "fix these or add them to SKIPS with a reason:\n" + "\n".join(
        f"  {v}: {check} {res}" for v, check, res in sorted(unexpected))


def test_every_skip_is_still_needed(checkov: dict) -> None:
    """A skip whose check no longer fails anywhere is stale and must go."""
    failing = {(c, check) for (_, c), fails in checkov.items() for check, _ in fails}
    stale = [(c, check) for c, skips in SKIPS.items() for check in skips
             if (c, check) not in failing]
    assert not stale, stale
    assert all(reason.strip() for skips in SKIPS.values() for reason in skips.values())


# --------------------------------------------------------------------------- CloudConfig


def test_aws_honours_cloud_config(parsed: dict) -> None:
    kube = parsed[("full-kubernetes", "aws")]
    vm = parsed[("full-vm", "aws")]
    for doc in (kube, vm):
        found = types(doc)
        assert {"aws_wafv2_web_acl", "aws_wafv2_web_acl_association", "aws_budgets_budget"} <= found
        assert "aws_kms_key" not in found and "aws_vpc" not in found
        assert "aws_vpc" in {k.split(".")[0] for k in resources(doc, "data")}
        var = variables(doc)
        assert var["kms_key_arn"]["default"] == \
            '"arn:aws:kms:us-west-2:123456789012:key/abcdef"'
        assert var["vpc_id"]["default"] == '"vpc-12345"'
        assert var["monthly_budget_usd"]["default"] == 100
        assert var["budget_alert_emails"]["default"] == ['"finance@example.com"']
        assert var["log_retention_days"]["default"] == 90
        acl = of_type(doc, "aws_wafv2_web_acl")[0]
        groups = [r["name"] for r in acl["rule"]]
        assert {'"AWSManagedRulesCommonRuleSet"', '"AWSManagedRulesSQLiRuleSet"',
                '"rate-limit"'} <= set(groups)
        listener = resources(doc)["aws_lb_listener.https"]
        assert listener["certificate_arn"] == "${var.certificate_arn}"
        alarm_actions = next(e for e in doc["locals"] if "alarm_actions" in e)["alarm_actions"]
        assert '"arn:aws:sns:us-west-2:123456789012:alerts"' in alarm_actions
    assert of_type(kube, "aws_eks_node_group")[0]["capacity_type"] == '"SPOT"'
    assert "mixed_instances_policy" in resources(vm)["aws_autoscaling_group.app"]
    assert variables(vm)["instance_role_name"]["default"] == '"pepperpy-app-role"'
    default = parsed[("kv-store", "aws")]
    assert of_type(default, "aws_eks_node_group")[0]["capacity_type"] == '"ON_DEMAND"'
    assert "mixed_instances_policy" not in resources(parsed[("bsc-rag", "aws")])[
        "aws_autoscaling_group.app"]


def test_azure_honours_cloud_config(parsed: dict) -> None:
    kube = parsed[("full-kubernetes", "azure")]
    vm = parsed[("full-vm", "azure")]
    for doc in (kube, vm):
        found = types(doc)
        assert {"azurerm_web_application_firewall_policy",
                "azurerm_consumption_budget_resource_group"} <= found
        assert "azurerm_key_vault_key" not in found and "azurerm_virtual_network" not in found
        gateway = of_type(doc, "azurerm_application_gateway")[0]
        assert gateway["sku"][0]["name"] == '"WAF_v2"' and "firewall_policy_id" in gateway
        assert variables(doc)["vnet_id"]["default"] == '"vpc-12345"'
        assert variables(doc)["monthly_budget"]["default"] == 100
    pool = resources(kube)["azurerm_kubernetes_cluster_node_pool.apps"]
    assert pool["priority"] == '"Spot"'
    assert resources(vm)["azurerm_linux_virtual_machine_scale_set.app"]["priority"] == '"Spot"'
    assert "priority" not in resources(parsed[("kv-store", "azure")])[
        "azurerm_kubernetes_cluster_node_pool.apps"]
    assert of_type(parsed[("bsc-rag", "azure")], "azurerm_application_gateway")[0]["sku"][0][
        "name"] == '"Standard_v2"'


def test_gcp_honours_cloud_config(parsed: dict) -> None:
    kube = parsed[("full-kubernetes", "gcp")]
    vm = parsed[("full-vm", "gcp")]
    for doc in (kube, vm):
        found = types(doc)
        assert {"google_compute_security_policy", "google_billing_budget"} <= found
        assert "google_kms_crypto_key" not in found and "google_compute_network" not in found
        assert variables(doc)["kms_key_id"]["default"] == \
            '"arn:aws:kms:us-west-2:123456789012:key/abcdef"'
        policy = of_type(doc, "google_compute_security_policy")[0]
        expressions = json.dumps(policy["rule"])
        assert "sqli-v33-stable" in expressions and "cve-canary" in expressions
        assert "rate_limit_options" in expressions
    pool = resources(kube)["google_container_node_pool.apps"]
    assert pool["node_config"][0]["spot"] is True
    template = resources(vm)["google_compute_instance_template.app"]
    assert template["scheduling"][0]["provisioning_model"] == '"SPOT"'
    backend = resources(vm)["google_compute_backend_service.app"]
    assert backend["security_policy"] == "${google_compute_security_policy.main.id}"
    assert resources(parsed[("kv-store", "gcp")])["google_container_node_pool.apps"][
        "node_config"][0]["spot"] is False


# --------------------------------------------------------------------------- secrets

SECRET_VALUE_TYPES = {"aws_secretsmanager_secret_version", "azurerm_key_vault_secret",
                      "google_secret_manager_secret_version"}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_secrets_are_referenced_by_name_only(parsed: dict, tree: Path, cloud: str) -> None:
    doc = parsed[("bsc-rag", cloud)]
    assert not SECRET_VALUE_TYPES & types(doc)
    text = "".join(p.read_text() for p in module(tree, "bsc-rag", cloud).glob("*.tf"))
    assert "openai-api-key" in text  # the secret exists by name...
    assert "OPENAI_API_KEY" not in text  # ...and no environment is written at all
    for variant in variants():
        for name, body in variables(parsed[(variant, cloud)]).items():
            if body.get("sensitive"):
                assert "default" not in body, f"{cloud}/{variant}: {name} has a default"
        for key, body in resources(parsed[(variant, cloud)]).items():
            for attr in ("password", "auth_token", "administrator_password"):
                if attr in body:
                    assert body[attr].startswith("${var."), f"{key}.{attr} is a literal"


def test_a_secret_set_locally_never_reaches_terraform(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with a value in the environment, only the ${SECRET:name} reference is used."""
    canary = "sk-canary-4f1d9b7e2c"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.setenv("PEPPERPY_CLOUD_HOME", str(tmp_path))
    stack = load_stack("bsc-rag")
    for cloud in CLOUDS:
        assert canary not in "".join(render(stack, f"terraform-{cloud}").values())


# --------------------------------------------------------------------------- terraform validate

PLUGIN_DIR = Path(os.environ.get("PEPPERPY_TF_PLUGIN_DIR", "/opt/tf-plugins"))


@pytest.fixture(scope="module")
def aws_provider(tree: Path, tool: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder initialised once with the local hashicorp/aws provider, shared by the modules."""
    if not (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no local hashicorp/aws provider under {PLUGIN_DIR} "
                    "(set PEPPERPY_TF_PLUGIN_DIR) to run terraform validate offline")
    folder = tmp_path_factory.mktemp("aws-init")
    shutil.copy(module(tree, "kv-store", "aws") / "versions.tf", folder)
    init = subprocess.run([tool("terraform"), "init", "-backend=false", "-input=false",
                           f"-plugin-dir={PLUGIN_DIR}"], cwd=folder, capture_output=True,
                          text=True, timeout=300, env=TF_ENV, check=False)
    assert init.returncode == 0, init.stdout + init.stderr
    return folder


TF_ENV = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}


@pytest.mark.parametrize("variant", ["kv-store", "bsc-rag", "full-kubernetes", "full-vm"])
def test_aws_module_validates_against_the_provider_schema(
        tree: Path, tool: Any, aws_provider: Path, variant: str, tmp_path: Path) -> None:
    folder = tmp_path / variant
    shutil.copytree(module(tree, variant, "aws"), folder)
    (folder / ".terraform").symlink_to(aws_provider / ".terraform")
    shutil.copy(aws_provider / ".terraform.lock.hcl", folder)
    check = subprocess.run([tool("terraform"), "validate", "-no-color"], cwd=folder,
                           capture_output=True, text=True, timeout=300, env=TF_ENV, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Warning" not in check.stdout + check.stderr, check.stdout + check.stderr
