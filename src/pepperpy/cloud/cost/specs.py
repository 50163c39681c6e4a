"""Published sizes of managed-service classes (not prices): memory of cache nodes, vCPUs and
memory of database classes, capacity of Azure managed-disk tiers. They let a stack say
"Redis with 6 GB" or "a small Postgres" and get the cheapest class that fits."""

from __future__ import annotations

# GiB of memory per cache node class.
CACHE_MEMORY_GIB: dict[tuple[str, str], float] = {
    ("aws", "cache.t3.micro"): 0.5, ("aws", "cache.t3.small"): 1.37,
    ("aws", "cache.t3.medium"): 3.09, ("aws", "cache.m4.large"): 6.42,
    ("aws", "cache.m5.large"): 6.38, ("aws", "cache.r5.large"): 13.07,
    ("aws", "cache.r5.4xlarge"): 105.81, ("aws", "cache.m6g.12xlarge"): 157.12,
    ("azure", "Basic_C0"): 0.25, ("azure", "Basic_C1"): 1, ("azure", "Basic_C2"): 2.5,
    ("azure", "Basic_C3"): 6, ("azure", "Basic_C4"): 13, ("azure", "Basic_C5"): 26,
    ("azure", "Basic_C6"): 53, ("azure", "Standard_C0"): 0.25, ("azure", "Standard_C1"): 1,
    ("azure", "Standard_C2"): 2.5, ("azure", "Standard_C3"): 6, ("azure", "Standard_C4"): 13,
    ("azure", "Premium_P1"): 6, ("azure", "Premium_P2"): 13, ("azure", "Premium_P3"): 26,
}

# (vCPUs, GiB) per managed database class.
DATABASE_SIZES: dict[tuple[str, str], tuple[float, float]] = {
    ("aws", "db.t3.micro"): (2, 1), ("aws", "db.t3.small"): (2, 2),
    ("aws", "db.t3.medium"): (2, 4), ("aws", "db.t3.large"): (2, 8),
    ("aws", "db.m5.large"): (2, 8), ("aws", "db.r5.large"): (2, 16),
    ("aws", "db.m6g.large"): (2, 8),
    ("azure", "B1ms"): (1, 2), ("azure", "B2s"): (2, 4), ("azure", "D2s_v3"): (2, 8),
    ("azure", "D4s_v3"): (4, 16), ("azure", "E4s_v3"): (4, 32), ("azure", "D16s_v3"): (16, 64),
    ("gcp", "db-f1-micro"): (0.2, 0.6), ("gcp", "db-g1-small"): (0.5, 1.7),
}

# Azure managed disks are sold in fixed sizes (GiB); a volume takes the smallest that holds it.
AZURE_DISK_TIERS: dict[str, tuple[tuple[str, int], ...]] = {
    "premium": (("P1", 4), ("P2", 8), ("P3", 16), ("P4", 32), ("P6", 64), ("P10", 128),
                ("P15", 256), ("P20", 512), ("P30", 1024), ("P40", 2048), ("P50", 4096)),
    "standard_ssd": (("E1", 4), ("E2", 8), ("E3", 16), ("E4", 32), ("E6", 64), ("E10", 128),
                     ("E15", 256), ("E20", 512), ("E30", 1024), ("E40", 2048)),
    "standard_hdd": (("S4", 32), ("S6", 64), ("S10", 128), ("S15", 256), ("S20", 512),
                     ("S30", 1024), ("S40", 2048)),
}

# Memorystore for Redis bills per GB-hour at a rate set by the instance's capacity tier.
MEMORYSTORE_TIERS: tuple[tuple[str, float], ...] = (
    ("m1", 4), ("m2", 10), ("m3", 35), ("m4", 100), ("m5", float("inf")))


def azure_disk_tier(size_gb: float, family: str = "premium") -> str:
    for name, capacity in AZURE_DISK_TIERS[family]:
        if size_gb <= capacity:
            return name
    return AZURE_DISK_TIERS[family][-1][0]


def memorystore_tier(size_gb: float) -> str:
    return next(name for name, limit in MEMORYSTORE_TIERS if size_gb <= limit)
