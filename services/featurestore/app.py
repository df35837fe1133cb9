"""featurestore: looks features up in K shards in parallel; heavy-tailed.

``POST /v1/work`` → inference. Each request waits for the slowest of ``shards`` lognormal lookups,
the tail-at-scale shape: the request is slow when any shard is. Honours every fault of the shared
runtime (``/admin/faults``).
"""
from __future__ import annotations

import prometheus_client

from services.common import app as runtime
from services.common import settings as settings_module

DEFAULTS = {"service": "featurestore", "servers": 8, "queue_limit": 128, "shards": 4,
            "service_time": {"distribution": "lognormal", "mean_seconds": 0.004, "sigma": 0.8}}


def create_app(settings: settings_module.ServiceSettings | None = None,
               registry: prometheus_client.CollectorRegistry | None = None):
    return runtime.create_app(settings or settings_module.load_settings(defaults=DEFAULTS), registry)
