"""The interface every backend implements: the local processes (deploy/local) and a cluster (deploy/cluster).

The run pipeline (orchestration/runner.py), the local autoscaler (controllers/autoscaling.py) and
the fault executor talk to a stack only through these members, so one scenario runs on either
backend and everything after "collect" cannot tell them apart. Both backends write the same event
types (schema/events.py) to the run's ``events.jsonl``. docs/architecture.md shows where each is
called in a run.
"""
from __future__ import annotations

from typing import Protocol


class Backend(Protocol):
    """A running stack for one scenario, from ``up`` to ``down``."""

    prometheus_url: str
    """The run's Prometheus, on 127.0.0.1 (a port-forward on a cluster); empty before ``up``."""

    def up(self) -> None:
        """Start everything and return once every service answers through its proxy; on failure
        stop what started and raise with one sentence."""

    def down(self) -> None:
        """Stop everything this backend started, whatever state the run is in; idempotent."""

    def endpoints(self) -> dict:
        """At least ``entry_url`` (where the load goes, loopback), ``prometheus_url`` and
        ``admin_token``."""

    def scale(self, service: str, replicas: int, *, reason: str = "manual") -> None:
        """Ask for ``replicas`` replicas of ``service`` (``scale.spec.replicas``); a ``scale`` event."""

    def replica_count(self, service: str) -> int:
        """The replicas asked for, Pending ones included (``scale.spec.replicas``)."""

    def pod_statuses(self, service: str) -> list[dict]:
        """Each replica as the Kubernetes API would show it: ``name``, ``phase``, ``ready``,
        ``created_at``, ``start_time``, ``ready_since``, ``unready_since`` (epoch seconds)."""
