"""Keys, CORS, rate limits, request ids, body limits, error bodies and redacted JSON logs."""

from __future__ import annotations

import json
from typing import Any

from tests.service.conftest import Service

RESOURCES = {"provider": "aws", "resources": [{"type": "compute", "instance_type": "t3.large"}]}


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "request_id"} and body["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text
    return dict(body["error"])


def test_missing_invalid_and_revoked_keys_are_401(svc: Service) -> None:
    assert "missing" in _error(svc.client.post("/v1/estimate", json=RESOURCES), 401)["message"]
    fake = "ppc_abcdefgh_" + "x" * 43
    assert "invalid" in _error(svc.client.post("/v1/estimate", json=RESOURCES, headers={"X-API-Key": fake}),
                               401)["message"]
    assert _error(svc.client.get("/v1/deployments", headers={"Authorization": "Basic abc"}), 401)
    info, key = svc.keys.create("temporary")
    assert svc.client.post("/v1/estimate", json=RESOURCES, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    svc.keys.revoke(info.id)
    revoked = svc.client.post("/v1/estimate", json=RESOURCES, headers={"Authorization": f"Bearer {key}"})
    assert "revoked" in _error(revoked, 401)["message"]
    assert revoked.headers["www-authenticate"].startswith("Bearer")


def test_every_v1_route_needs_a_key(svc: Service) -> None:
    for method, path in (("POST", "/v1/estimate"), ("POST", "/v1/compare"), ("GET", "/v1/instances"),
                         ("POST", "/v1/ask"), ("GET", "/v1/deployments"), ("GET", "/v1/deployments/x"),
                         ("POST", "/v1/deployments/x/scale"), ("GET", "/v1/metrics/x")):
        r = svc.client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)


def test_keys_are_stored_hashed(svc: Service) -> None:
    raw = svc.settings.keys_path().read_bytes()
    assert svc.key.encode() not in raw
    assert svc.key.split("_", 2)[2].encode() not in raw


def test_cors_allowlist(svc: Service) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,content-type"}
    allowed = svc.client.options("/v1/estimate", headers={"Origin": "http://allowed.test", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://allowed.test"
    denied = svc.client.options("/v1/estimate", headers={"Origin": "http://evil.test", **preflight})
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers
    simple = svc.client.get("/health", headers={"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in simple.headers
    exposed = svc.client.get("/health", headers={"Origin": "http://allowed.test"})
    assert "x-request-id" in exposed.headers["access-control-expose-headers"].lower()


def test_in_process_rate_limit_per_key(make_service: Any) -> None:
    svc = make_service(rate_limit_per_key=0.5, rate_limit_per_key_burst=3)
    codes = [svc.client.get("/v1/deployments", headers=svc.headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = svc.client.get("/v1/deployments", headers=svc.headers)
    err = _error(limited, 429)
    assert "this key's" in err["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    _, other = svc.keys.create("other")
    assert svc.client.get("/v1/deployments", headers={"X-API-Key": other}).status_code == 200  # per key
    assert svc.metric("pepperpy_service_rate_limited_total", scope="key") >= 2


def test_in_process_global_rate_limit(make_service: Any) -> None:
    svc = make_service(rate_limit_global=0.5, rate_limit_global_burst=2)
    _, other = svc.keys.create("other")
    assert svc.client.get("/v1/deployments", headers=svc.headers).status_code == 200
    assert svc.client.get("/v1/deployments", headers={"X-API-Key": other}).status_code == 200
    limited = svc.client.get("/v1/deployments", headers={"X-API-Key": other})
    assert "service's" in _error(limited, 429)["message"] and limited.headers["retry-after"]


def test_redis_rate_limit_is_shared_between_apps(make_service: Any, redis_url: str, redis_prefix: str) -> None:
    import redis

    first = make_service(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit_per_key=0.2,
                         rate_limit_per_key_burst=3)
    second = make_service(redis_url=redis_url, redis_prefix=redis_prefix, rate_limit_per_key=0.2,
                          rate_limit_per_key_burst=3, keys_db=first.settings.keys_path())
    codes = [app.client.get("/v1/deployments", headers=first.headers).status_code
             for app in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]  # one bucket in Redis, not one per process
    limited = second.client.get("/v1/deployments", headers=first.headers)
    assert _error(limited, 429) and 1 <= int(limited.headers["retry-after"]) <= 5
    stored = redis.Redis.from_url(redis_url).keys(redis_prefix + "rl:*")
    assert {k.decode() for k in stored} == {f"{redis_prefix}rl:global", f"{redis_prefix}rl:key:{first.key_info.id}"}
    assert first.client.get("/ready").json()["checks"]["redis"] == "ok"


def test_request_ids(svc: Service) -> None:
    a, b = svc.client.get("/health"), svc.client.get("/health")
    assert a.headers["x-request-id"] != b.headers["x-request-id"] and len(a.headers["x-request-id"]) == 32
    echoed = svc.client.get("/health", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    unsafe = svc.client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    assert svc.client.get("/nope").headers["x-request-id"]


def test_body_size_limit_is_413(svc: Service) -> None:
    big = json.dumps({"provider": "aws", "stack": "x" * (svc.settings.max_body_bytes + 10)})
    err = _error(svc.client.post("/v1/estimate", content=big, headers={**svc.headers, "content-type": "application/json"}),
                 413)
    assert err["type"] == "BodyTooLargeError"

    def chunks() -> Any:  # no Content-Length: the limit must still hold
        for _ in range(10):
            yield b"x" * (svc.settings.max_body_bytes // 5)

    streamed = svc.client.post("/v1/estimate", content=chunks(), headers={**svc.headers, "content-type": "application/json"})
    assert streamed.status_code == 413


def test_malformed_json_and_wrong_types_are_422(svc: Service) -> None:
    err = _error(svc.client.post("/v1/estimate", content=b'{"provider": "aws", ',
                                 headers={**svc.headers, "content-type": "application/json"}), 422)
    assert err["message"] == "malformed JSON" and err["field"] == "body"
    err = _error(svc.client.post("/v1/estimate", json={"provider": "aws", "resources": "lots"}, headers=svc.headers), 422)
    assert err["field"] == "resources"
    err = _error(svc.client.post("/v1/estimate", json={"provider": "aws", "resources": [{"type": "compute", "count": -1}]},
                                 headers=svc.headers), 422)
    assert err["field"] == "resources[0].count"


def test_unknown_provider_region_and_type_are_4xx(svc: Service) -> None:
    err = _error(svc.client.post("/v1/estimate", json={"provider": "ibm", "resources": [{"type": "compute"}]},
                                 headers=svc.headers), 422)
    assert err["field"] == "provider"
    err = _error(svc.client.post("/v1/estimate", json={"provider": "aws", "region": "mars-1",
                                                       "resources": [{"type": "compute", "instance_type": "t3.large"}]},
                                 headers=svc.headers), 404)
    assert err["field"] == "region" and "mars-1" in err["message"]
    err = _error(svc.client.post("/v1/estimate", json={"provider": "aws", "resources": [{"type": "compute",
                                                       "instance_type": "t3.large", "count": "many"}]},
                                 headers=svc.headers), 422)


def test_wrong_shaped_values_never_500(svc: Service) -> None:
    for res in ({"type": "storage", "size_gb": "lots"}, {"type": "compute", "vcpus": 1e9},
                {"type": "serverless", "requests": [1]}, {"type": "egress", "gb": {"a": 1}},
                {"type": "load_balancer", "lcu": "x"}, {"type": "database", "size": "giant"}):
        r = svc.client.post("/v1/estimate", json={"provider": "aws", "resources": [res]}, headers=svc.headers)
        assert 200 <= r.status_code < 500, (res, r.status_code, r.text)


def test_json_logs_have_seed_002_fields_and_no_secrets(make_service: Any) -> None:
    svc = make_service(secret_key="s3cr3t-value-for-tests-0123456789abcdef")
    svc.client.post("/v1/estimate", json=RESOURCES, headers=svc.headers)
    svc.client.post("/v1/estimate", json=RESOURCES, headers={"Authorization": f"Bearer {svc.key}x"})  # bad key
    svc.client.get("/v1/deployments", headers={"X-API-Key": svc.key + "tail"})
    import logging

    logging.getLogger("pepperpy.cloud.service.test").warning("config has %s and %s",
                                                             "s3cr3t-value-for-tests-0123456789abcdef", svc.key)
    text = svc.logs.getvalue()
    assert svc.key not in text and svc.key.split("_", 2)[2] not in text
    assert "s3cr3t-value-for-tests" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    request_lines = [x for x in lines if x.get("operation") == "POST /v1/estimate"]
    assert request_lines and {"timestamp", "level", "component", "operation", "duration_ms", "tools_used",
                              "request_id", "status"} <= set(request_lines[0])
    assert request_lines[0]["key_id"] == svc.key_info.id and request_lines[0]["timestamp"].endswith("Z")
    assert any("***" in x["message"] for x in lines)
