"""Seed 000's "Exemplo Completo" exactly as written (AWSProvider, us-west-2), against moto's server."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.seed_snippets import COMPLETE_EXAMPLE

RAG_APP = Path(__file__).resolve().parents[3] / "examples" / "rag-app"
SEED_REGION = "us-west-2"


def test_seed_000_complete_example_runs_as_written_against_moto(aws: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    def client(name: str) -> Any:
        return boto3.client(name, region_name=SEED_REGION)

    shutil.copytree(RAG_APP, tmp_path / "rag-app", ignore=shutil.ignore_patterns("__pycache__", "pepperpy.yaml"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "rag-app"))  # where the example's pepperpy.rag lives
    client("secretsmanager").create_secret(Name="openai-api-key", SecretString="sk-complete-example-4242")

    with pytest.warns(UserWarning, match="image"):  # no Docker here: the image push is left to the user
        exec(compile(COMPLETE_EXAMPLE, "seed-000-exemplo-completo", "exec"), {"__name__": "__main__"})

    out = capsys.readouterr().out
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    [lb] = client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert lines["URL da aplicação"] == f"http://{lb['DNSName']}"
    assert lines["Dashboard de monitoramento"].startswith("https://") and "pepperpy-rag-dashboard" in out
    assert lines["- Bucket de documentos"].startswith("s3://pepperpy-rag-documents")
    assert lines["- Banco de dados de vetores"] == "pepperpy-rag-vectors"
    [db] = client("rds").describe_db_instances(DBInstanceIdentifier="pepperpy-rag-vectors")["DBInstances"]
    assert db["Engine"] == "postgres" and db["EngineVersion"].startswith("14")
    [alarm] = client("cloudwatch").describe_alarms(AlarmNames=["high-cpu-alert"])["MetricAlarms"]
    assert alarm["Threshold"] == 80 and alarm["MetricName"] == "CPUUtilization"
    subscriptions = client("sns").list_subscriptions()["Subscriptions"]
    assert any(s["Protocol"] == "email" and s["Endpoint"] == "admin@example.com" for s in subscriptions)
    assert "pepperpy-rag-dashboard" in [d["DashboardName"] for d in client("cloudwatch").list_dashboards()
                                        ["DashboardEntries"]]
    config = (tmp_path / "app_config.yaml").read_text()
    assert "postgresql://" in config  # the seed writes the connection string into its own config file
    assert "sk-complete-example-4242" not in out

    from pepperpy.cloud import AWSProvider, CloudMonitor, ResourceManager
    from pepperpy.cloud.providers.aws.cloudwatch import CloudWatchMonitor

    provider = AWSProvider(region=SEED_REGION)
    provider.options["wait_delay"] = 0
    provider.destroy_stack("pepperpy-rag-service")
    manager = ResourceManager(provider=provider)
    for name in ("pepperpy-rag-documents", "pepperpy-rag-vectors"):
        manager.delete_resource(name)
    CloudMonitor(provider=provider).delete_alert("high-cpu-alert")
    CloudWatchMonitor(provider).delete_dashboard("pepperpy-rag-dashboard")
    left = client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "managed-by", "Values": ["pepperpy-cloud"]}])["ResourceTagMappingList"]
    assert [r["ResourceARN"] for r in left if ":ecs:" not in r["ResourceARN"]] == []  # moto keeps INACTIVE ECS
    assert client("cloudwatch").list_dashboards()["DashboardEntries"] == []
    assert client("rds").describe_db_instances()["DBInstances"] == []
