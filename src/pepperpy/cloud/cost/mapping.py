"""Which managed service and which catalog SKU stand for each component on each cloud.

This is seed 003's table made executable: containers -> EKS/AKS/GKE or VMs,
Redis -> ElastiCache/Azure Cache/Memorystore, PostgreSQL -> RDS/Azure
Database/Cloud SQL, RabbitMQ -> Amazon MQ/Service Bus/Pub/Sub, load balancer,
monitoring, object and block storage, egress and serverless.
"""

from __future__ import annotations

MANAGED_SERVICES: dict[str, dict[str, str]] = {
    "compute": {"aws": "Amazon EC2", "azure": "Azure Virtual Machines", "gcp": "Compute Engine"},
    "kubernetes": {"aws": "Amazon EKS", "azure": "Azure Kubernetes Service (AKS)",
                   "gcp": "Google Kubernetes Engine (GKE)"},
    "database": {"aws": "Amazon RDS for PostgreSQL",
                 "azure": "Azure Database for PostgreSQL (flexible server)",
                 "gcp": "Cloud SQL for PostgreSQL"},
    "cache": {"aws": "Amazon ElastiCache (Redis)", "azure": "Azure Cache for Redis",
              "gcp": "Memorystore for Redis"},
    "queue": {"aws": "Amazon MQ (RabbitMQ)", "azure": "Azure Service Bus", "gcp": "Pub/Sub"},
    "load_balancer": {"aws": "Elastic Load Balancing (ALB)", "azure": "Azure Load Balancer",
                      "gcp": "Cloud Load Balancing"},
    "object_storage": {"aws": "Amazon S3", "azure": "Azure Blob Storage", "gcp": "Cloud Storage"},
    "block_storage": {"aws": "Amazon EBS", "azure": "Azure Managed Disks",
                      "gcp": "Persistent Disk"},
    "egress": {"aws": "Data transfer out (internet)", "azure": "Bandwidth (internet egress)",
               "gcp": "Network egress (internet)"},
    "serverless": {"aws": "AWS Lambda", "azure": "Azure Functions", "gcp": "Cloud Run"},
    "monitoring": {"aws": "Amazon CloudWatch", "azure": "Azure Monitor",
                   "gcp": "Cloud Monitoring"},
}

# Default catalog SKU per (provider, service) when a resource does not name one.
DEFAULT_SKUS: dict[tuple[str, str], str] = {
    ("aws", "object_storage"): "standard",
    ("aws", "block_storage"): "gp3",
    ("aws", "database_storage"): "gp3",
    ("aws", "kubernetes"): "eks-cluster",
    ("aws", "load_balancer"): "alb-hour",
    ("aws", "load_balancer_lcu"): "alb-lcu",
    ("aws", "egress"): "internet-egress",
    ("aws", "queue"): "mq.t2.micro",
    ("aws", "serverless_requests"): "lambda-requests",
    ("aws", "serverless_duration"): "lambda-duration",
    ("aws", "monitoring_metrics"): "cloudwatch-metric",
    ("aws", "monitoring_alarms"): "cloudwatch-alarm-standard",
    ("aws", "monitoring_dashboards"): "cloudwatch-dashboard",
    ("azure", "object_storage"): "hot-lrs",
    ("azure", "block_storage"): "premium",
    ("azure", "database_storage"): "storage",
    ("azure", "kubernetes"): "standard-uptime-sla",
    ("azure", "load_balancer"): "lb-rule",
    ("azure", "load_balancer_data"): "standard-data-processed",
    ("azure", "egress"): "internet-egress",
    ("azure", "queue_operations"): "servicebus-standard-operations",
    ("azure", "serverless_requests"): "functions-executions",
    ("azure", "serverless_duration"): "functions-execution-time",
    ("azure", "monitoring_alarms"): "metric-alert-time-series",
    ("gcp", "object_storage"): "standard",
    ("gcp", "block_storage"): "pd-balanced",
    ("gcp", "database_storage"): "cloudsql-ssd-zonal",
    ("gcp", "kubernetes"): "gke-cluster-management",
    ("gcp", "load_balancer"): "forwarding-rule",
    ("gcp", "load_balancer_data"): "ingress-data-processed",
    ("gcp", "egress"): "internet-egress",
    ("gcp", "queue_throughput"): "pubsub-message-ingestion",
    ("gcp", "serverless_requests"): "cloud-run-requests",
    ("gcp", "serverless_duration"): "cloud-run-memory",
}

# Aliases users write for a provider's SKU (seed 004 writes "B2s" for "Standard_B2s").
def normalize_instance(provider: str, name: str) -> str:
    if provider == "azure" and name and not name.startswith(("Standard_", "Basic_")):
        return f"Standard_{name.replace(' ', '_')}"
    return name
