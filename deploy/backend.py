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

    # -- faults: the fault executor (controllers/chaos.py) applies the scenario's schedule through these.
    # A backend that cannot do one raises with a sentence saying so; the executor records it as a
    # failed fault and the run goes on.

    def kill_pods(self, service: str, pods: list[str]) -> list[str]:
        """SIGKILL the named running pods of ``service`` (the backend reports ``pod_died``); returns those killed."""

    def replace_pods(self, service: str, count: int) -> list[str]:
        """Create ``count`` pods of ``service`` as a ReplicaSet replaces dead ones (no ``scale``
        event); returns their names."""

    def set_faults(self, service: str, faults: dict, *, pods: list[str] | None = None) -> list[str]:
        """Replace the ``FaultState`` of every running pod of ``service`` (or the named ``pods``)
        through its admin API; ``{}`` clears. Returns the pods set."""

    def set_proxy_faults(self, service: str, *, abort_percent: int = 0, abort_status: int = 503,
                         delay_percent: int = 0, delay_seconds: float = 0.0) -> None:
        """Switch the fault filter of ``service``'s Envoy: abort and delay a whole percent of
        requests; all zero clears it."""

    def set_partitioned(self, service: str, pods: list[str], *, partitioned: bool) -> list[str]:
        """Cut the named pods off from their Envoy while they keep running, or join them again;
        returns the pods changed."""
