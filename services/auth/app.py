"""auth: token check on every request; fast and CPU-light.

``POST /v1/work`` → featurestore. A multi-server queue with short exponential service times
(M/M/c with small S). Honours every fault of the shared runtime (``/admin/faults``).
"""
from __future__ import annotations

import prometheus_client

from services.common import app as runtime
from services.common import settings as settings_module

DEFAULTS = {"service": "auth", "servers": 8, "queue_limit": 128,
            "service_time": {"distribution": "exponential", "mean_seconds": 0.002}}


def create_app(settings: settings_module.ServiceSettings | None = None,
               registry: prometheus_client.CollectorRegistry | None = None):
    return runtime.create_app(settings or settings_module.load_settings(defaults=DEFAULTS), registry)
