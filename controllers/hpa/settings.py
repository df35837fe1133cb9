"""The kube-controller-manager settings the HPA algorithm reads, with the upstream defaults.

Each field is one ``--horizontal-pod-autoscaler-*`` flag (``RecommendedDefaultHPAControllerConfiguration``)
except the two scale-up-limit constants, which are package variables upstream; they are fields here
only because ``horizontal_test.go`` overrides one of them (``init()`` sets the factor to 8) and the
ported tests need to do the same.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ControllerSettings:
    """How the controller is configured. Validated on construction."""

    sync_period_seconds: float = 15.0
    """``--horizontal-pod-autoscaler-sync-period``. Seconds between two syncs of one HPA. The
    decision itself does not use it; :mod:`controllers.hpa.replaying` steps time by it."""

    tolerance: float = 0.1
    """``--horizontal-pod-autoscaler-tolerance``. Usage ratios in ``[1 - t, 1 + t]`` keep the
    current replica count. ``behavior.scaleUp/scaleDown.tolerance`` override it per side."""

    cpu_initialization_period_seconds: float = 300.0
    """``--horizontal-pod-autoscaler-cpu-initialization-period`` (5 min). For this long after a
    pod's ``startTime``, its CPU sample counts only if it was taken after the pod became Ready."""

    initial_readiness_delay_seconds: float = 30.0
    """``--horizontal-pod-autoscaler-initial-readiness-delay`` (30 s). After the initialization
    period, a NotReady pod counts as unready only if it went NotReady this soon after starting."""

    downscale_stabilization_seconds: int = 300
    """``--horizontal-pod-autoscaler-downscale-stabilization`` (5 min). The legacy scale-down window,
    and the default for ``behavior.scaleDown.stabilizationWindowSeconds``."""

    scale_up_limit_factor: float = 2.0
    """``scaleUpLimitFactor``: without ``behavior`` one sync may at most multiply replicas by this."""

    scale_up_limit_minimum: float = 4.0
    """``scaleUpLimitMinimum``: ...or go up to this many replicas, whichever is larger."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError(f"{field.name} must not be negative, got {getattr(self, field.name)!r}")
        if self.sync_period_seconds == 0:
            raise ValueError("sync_period_seconds must be positive: a zero period never advances time")
