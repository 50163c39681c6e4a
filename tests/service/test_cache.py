"""Seed 002's cache layers: in-process LRU, then Redis with a TTL; hits and misses counted in /metrics."""

from __future__ import annotations

from typing import Any

from tests.service.conftest import Service

BODY = {"provider": "aws", "resources": [{"type": "compute", "instance_type": "t3.large", "count": 2}]}
SAME_BODY_OTHER_ORDER = {"resources": [{"count": 2, "instance_type": "t3.large", "type": "compute"}], "provider": "aws"}


def test_lru_hits_and_misses_show_in_metrics(svc: Service) -> None:
    first = svc.client.post("/v1/estimate", json=BODY, headers=svc.headers)
    second = svc.client.post("/v1/estimate", json=SAME_BODY_OTHER_ORDER, headers=svc.headers)
    assert first.json() == second.json()
    assert svc.metric("pepperpy_service_cache_misses_total", route="estimate") == 1
    assert svc.metric("pepperpy_service_cache_hits_total", route="estimate", layer="memory") == 1
    svc.client.post("/v1/estimate", json={**BODY, "provider": "gcp",
                                          "resources": [{"type": "compute", "instance_type": "e2-standard-2"}]},
                    headers=svc.headers)
    assert svc.metric("pepperpy_service_cache_misses_total", route="estimate") == 2


def test_errors_are_not_cached(svc: Service) -> None:
    bad = {"provider": "aws", "region": "mars-1", "resources": [{"type": "compute", "instance_type": "t3.large"}]}
    for _ in range(2):
        assert svc.client.post("/v1/estimate", json=bad, headers=svc.headers).status_code == 404
    assert svc.metric("pepperpy_service_cache_hits_total", route="estimate", layer="memory") == 0


def test_lru_is_bounded() -> None:
    from pepperpy.cloud.service.cache import LRU

    lru = LRU(2, ttl=0)
    lru.set("a", b"1")
    lru.set("b", b"2")
    assert lru.get("a") == b"1"
    lru.set("c", b"3")  # evicts b, the least recently used
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (b"1", None, b"3")


def test_redis_layer_is_shared_and_has_a_ttl(make_service: Any, redis_url: str, redis_prefix: str) -> None:
    import redis

    first = make_service(redis_url=redis_url, redis_prefix=redis_prefix, cache_ttl=120)
    second = make_service(redis_url=redis_url, redis_prefix=redis_prefix, cache_ttl=120,
                          keys_db=first.settings.keys_path())
    a = first.client.post("/v1/estimate", json=BODY, headers=first.headers)
    b = second.client.post("/v1/estimate", json=BODY, headers=first.headers)
    assert a.status_code == b.status_code == 200 and a.content == b.content
    assert first.metric("pepperpy_service_cache_misses_total", route="estimate") == 1
    assert second.metric("pepperpy_service_cache_hits_total", route="estimate", layer="redis") == 1
    second.client.post("/v1/estimate", json=BODY, headers=first.headers)  # now from second's own LRU
    assert second.metric("pepperpy_service_cache_hits_total", route="estimate", layer="memory") == 1
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(redis_prefix + "cache:*")
    assert len(keys) == 1 and 0 < client.ttl(keys[0]) <= 120


def test_redis_outage_degrades_to_computing(make_service: Any) -> None:
    svc = make_service(redis_url="redis://127.0.0.1:1/0", cache_ttl=60)
    r = svc.client.post("/v1/estimate", json=BODY, headers=svc.headers)
    assert r.status_code == 200
    assert svc.metric("pepperpy_service_redis_errors_total", operation="rate_limit") == 1
    assert svc.metric("pepperpy_service_redis_errors_total", operation="cache_get") == 1
