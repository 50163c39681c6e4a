"""Seed 000's snippets kept verbatim, for the tests that run them as written."""

from __future__ import annotations

# Seed 000, "Exemplo Completo", verbatim.
COMPLETE_EXAMPLE = '''
from pepperpy.cloud import (
    CloudManager,
    AWSProvider,
    DeploymentConfig,
    ResourceManager,
    StorageResource,
    DatabaseResource,
    CloudMonitor
)
from pepperpy.rag import RAGPipeline
import os
import yaml

def deploy_rag_application():
    """Implanta uma aplicação RAG completa na AWS."""

    # Configurar provedor AWS
    aws_provider = AWSProvider(
        region="us-west-2",
        credentials={
            "access_key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
            "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY")
        }
    )

    # Criar gerenciador de nuvem
    cloud_manager = CloudManager(provider=aws_provider)

    # Criar gerenciador de recursos
    resource_manager = ResourceManager(provider=aws_provider)

    # Etapa 1: Provisionar recursos necessários
    print("Provisionando recursos...")

    # Criar bucket S3 para documentos
    documents_bucket = resource_manager.create_resource(
        StorageResource(
            name="pepperpy-rag-documents",
            type="object_storage",
            access_policy="private"
        )
    )

    # Criar banco de dados para embeddings
    vector_db = resource_manager.create_resource(
        DatabaseResource(
            name="pepperpy-rag-vectors",
            type="postgres",
            version="14",
            extensions=["pgvector"],
            size="small"
        )
    )

    # Etapa 2: Preparar configuração da aplicação
    app_config = {
        "rag_pipeline": {
            "retriever": {
                "type": "vector",
                "source": vector_db.connection_string,
                "top_k": 5
            },
            "generator": {
                "type": "llm",
                "provider": "openai",
                "model": "gpt-4",
                "temperature": 0.7
            }
        },
        "storage": {
            "documents": documents_bucket.url
        },
        "api": {
            "cors_origins": ["*"],
            "rate_limit": 100
        }
    }

    # Salvar configuração em arquivo
    with open("app_config.yaml", "w") as f:
        yaml.dump(app_config, f)

    # Etapa 3: Implantar aplicação
    print("Implantando aplicação RAG...")

    deployment = cloud_manager.create_deployment(
        name="pepperpy-rag-service",
        config=DeploymentConfig(
            instance_type="t3.medium",
            memory="4Gi",
            cpu="2",
            min_replicas=2,
            max_replicas=10,
            environment_variables={
                "OPENAI_API_KEY": "${SECRET:openai-api-key}",
                "LOG_LEVEL": "INFO",
                "CONFIG_FILE": "/app/app_config.yaml"
            },
            health_check_path="/health",
            readiness_probe_path="/ready"
        )
    )

    # Implantar aplicação
    deployment_result = deployment.deploy(
        source_dir="./rag-app",
        entry_point="app.py",
        requirements_file="requirements.txt",
        additional_files=["app_config.yaml"]
    )

    # Etapa 4: Configurar monitoramento
    print("Configurando monitoramento...")

    monitor = CloudMonitor(provider=aws_provider)
    dashboard = monitor.create_dashboard(
        name="pepperpy-rag-dashboard",
        widgets=[
            {"type": "metric", "title": "CPU Usage", "metric": "cpu_usage", "resource": deployment.name},
            {"type": "metric", "title": "Memory Usage", "metric": "memory_usage", "resource": deployment.name},
            {"type": "metric", "title": "Request Count", "metric": "requests_count", "resource": deployment.name},
            {"type": "metric", "title": "Response Time", "metric": "response_time", "resource": deployment.name},
            {"type": "log", "title": "Error Logs", "query": f"resource.labels.deployment_name={deployment.name} severity>=ERROR"}
        ]
    )

    # Etapa 5: Configurar alertas
    monitor.create_alert(
        name="high-cpu-alert",
        description="Alert when CPU usage is high",
        metric="cpu_usage",
        resource=deployment.name,
        threshold=80,
        duration_seconds=300,
        notification_channels=["email:admin@example.com"]
    )

    # Resumo da implantação
    print("\\nImplantação concluída com sucesso!")
    print(f"URL da aplicação: {deployment_result.url}")
    print(f"Dashboard de monitoramento: {dashboard.url}")
    print("\\nRecursos provisionados:")
    print(f"- Bucket de documentos: {documents_bucket.url}")
    print(f"- Banco de dados de vetores: {vector_db.name}")

    return {
        "deployment_url": deployment_result.url,
        "dashboard_url": dashboard.url,
        "resources": {
            "documents_bucket": documents_bucket.url,
            "vector_db": vector_db.connection_string
        }
    }

if __name__ == "__main__":
    deploy_rag_application()
'''

AWS_CONSTRUCTOR = '''    aws_provider = AWSProvider(
        region="us-west-2",
        credentials={
            "access_key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
            "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY")
        }
    )
'''


def on_local_provider(code: str) -> str:
    """The complete example with AWSProvider(...) swapped for LocalProvider(), as issue 5 asks."""
    swapped = code.replace(AWS_CONSTRUCTOR, "    aws_provider = LocalProvider()\n")
    swapped = swapped.replace("    AWSProvider,\n", "    LocalProvider,\n", 1)
    assert swapped != code and "AWSProvider" not in swapped
    return swapped
