"""The HPA reaction-lag model: from a load step to the needed pods being Ready.

T = metric pipeline + sync pickup + stabilization + rate-limit waits + API/scheduling
    + container start + readiness,
each term an *expected* value in seconds (source: docs/hpa-decide.md, its defaults table and its
reaction-lag stages). ``hpa_lag_budget`` returns every term and the total, so a
report can line them up against a measured timeline and against the seed's 30 s constant
(``seedmodels.SEED_HPA_LAG_SECONDS``).

Pure functions: keyword-only numbers in, numbers (or one frozen record of numbers) out, stdlib
``math`` only, no I/O. Defaults, each from the reference:
- metrics-server resolution R = 15 s (the upstream manifest; the binary's own default is 60 s),
- kubelet/cAdvisor housekeeping h = 10 s (a sample is h/2 old on average),
- HPA sync period S = 15 s (a crossing waits U[0, S) for the next sync: S/2 on average),
- scale-up stabilization window 0 s; scale-up policies max(+4 pods, +100%) per 15 s,
- API write + Deployment/ReplicaSet/Pod objects about 0.1–1 s, scheduling 0.1–1 s (0.5 s each),
- cached image, sandbox + container start about 1–3 s (2 s), application boot 5 s,
- readiness probe initialDelaySeconds 0, periodSeconds 10, successThreshold 1, endpoint
  propagation under a second (0.5 s).
With these the budget is 12.5 + 7.5 + 0 + 0 + 1 + 2 + 10.5 = 33.5 s; the reference's estimate
is 20–60 s, median about 35 s.

``hpa_lag_bound`` is the worst case of the same model: the random phases at their ends (the
metric pipeline φ·R + R + h, the sync pickup S) and the deterministic terms fed with the upper
ends of the reference's ranges, 61 s with the defaults.
"""

import dataclasses
import math


def _check_seconds(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{name} {value:g} s must be a finite number >= 0")
    return value


def _check_positive_seconds(name: str, value: float) -> float:
    value = _check_seconds(name, value)
    if value == 0.0:
        raise ValueError(f"{name} 0 s must be > 0")
    return value


def _check_replicas(name: str, value: float) -> int:
    if isinstance(value, bool) or float(value) != int(value) or value < 1:
        raise ValueError(f"{name} {value} must be a whole number >= 1")
    return int(value)


@dataclasses.dataclass(frozen=True)
class LagBudget:
    """Expected seconds from a load step to the needed replicas being Ready, term by term."""

    metric_pipeline_seconds: float
    """Step → the served metric crosses the HPA's threshold (metrics-server ramp + sample age)."""
    sync_pickup_seconds: float
    """Crossing → the next HPA sync that sees it (half a sync period on average)."""
    stabilization_seconds: float
    """Scale-up stabilization window (0 by default; the recommendation is the window's minimum)."""
    rate_limit_seconds: float
    """Extra sync rounds when the scale-up policies cap one step (0 if one step suffices)."""
    api_scheduling_seconds: float
    """Scale write, Deployment/ReplicaSet/Pod objects, and scheduling onto a node with room."""
    container_start_seconds: float
    """Image pull (0 when cached) plus sandbox and container start."""
    readiness_seconds: float
    """Container start → Ready: app boot rounded up to a probe tick, plus endpoint propagation."""

    def terms(self) -> dict[str, float]:
        """The terms in pipeline order, keyed by field name."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @property
    def total_seconds(self) -> float:
        """The sum of all terms."""
        return math.fsum(self.terms().values())


def hpa_metric_pipeline_seconds(
    *,
    metric_resolution_seconds: float = 15.0,
    housekeeping_interval_seconds: float = 10.0,
    crossing_fraction: float = 0.0,
) -> float:
    """Expected delay until the served CPU metric crosses the scale-up threshold, φ·R + R/2 + h/2.

    metrics-server serves the CPU rate over the last two kubelet samples (R apart), so after a
    step the value ramps linearly over one interval; it has reached the fraction φ of the step
    needed to cross ``target × (1 + tolerance)`` once the newest sample is φ·R past the step,
    which happens φ·R + U[0, R) after it (R/2 on average), and the sample itself is on average
    h/2 old. φ = (target·1.1 − u_before)/(u_after − u_before), clamped to [0, 1]: 0 for a big
    step (the first partial rise crosses: range [0, R + h]), 1 to wait for the full step (range
    [R, 2R + h]). Units: seconds. Valid for R > 0, h >= 0, φ in [0, 1].
    """
    resolution = _check_positive_seconds("metric resolution", metric_resolution_seconds)
    housekeeping = _check_seconds("housekeeping interval", housekeeping_interval_seconds)
    fraction = float(crossing_fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"crossing fraction {fraction:g} must lie in [0, 1]")
    return fraction * resolution + resolution / 2.0 + housekeeping / 2.0


def hpa_sync_pickup_seconds(*, sync_period_seconds: float = 15.0) -> float:
    """Expected wait for the next HPA sync after the metric crosses: S/2.

    Each HPA is re-queued S after its last sync with a random phase, so the wait is U[0, S).
    Units: seconds. Valid for S > 0.
    """
    return _check_positive_seconds("sync period", sync_period_seconds) / 2.0


def hpa_scale_up_steps(
    *,
    current_replicas: int,
    desired_replicas: int,
    scale_up_pods: int = 4,
    scale_up_percent: float = 100.0,
) -> int:
    """Syncs needed to go from current to desired under the scale-up policies (selectPolicy Max).

    Each period allows max(current + pods, ⌈current·(1 + percent/100)⌉) — the defaults +4 pods
    and +100% mean "double, or add 4 if that is more". Returns 0 when desired <= current.
    Valid for whole replicas >= 1, pods >= 0, percent >= 0 (not both zero).
    """
    current = _check_replicas("current replicas", current_replicas)
    desired = _check_replicas("desired replicas", desired_replicas)
    if isinstance(scale_up_pods, bool) or float(scale_up_pods) != int(scale_up_pods) or scale_up_pods < 0:
        raise ValueError(f"scale-up pods {scale_up_pods} must be a whole number >= 0")
    percent = float(scale_up_percent)
    if not 0.0 <= percent < math.inf:
        raise ValueError(f"scale-up percent {percent:g} must be a finite number >= 0")
    if scale_up_pods == 0 and percent == 0.0:
        raise ValueError("scale-up pods and percent are both 0: the HPA could never scale up")
    steps = 0
    while current < desired:
        current = max(current + int(scale_up_pods), math.ceil(current * (1.0 + percent / 100.0)))
        steps += 1
    return steps


def hpa_rate_limit_wait_seconds(
    *,
    current_replicas: int,
    desired_replicas: int,
    scale_up_pods: int = 4,
    scale_up_percent: float = 100.0,
    policy_period_seconds: float = 15.0,
    sync_period_seconds: float = 15.0,
) -> float:
    """Extra time the scale-up rate limit adds: (steps − 1) × ⌈period/S⌉ × S.

    The first step happens at pickup; each further step waits until the last one ages out of
    the policy period, i.e. for the first sync at least one period later. 0 when one step
    (or none) reaches the desired count. Units: seconds. Validity as ``hpa_scale_up_steps``.
    """
    steps = hpa_scale_up_steps(
        current_replicas=current_replicas,
        desired_replicas=desired_replicas,
        scale_up_pods=scale_up_pods,
        scale_up_percent=scale_up_percent,
    )
    period = _check_positive_seconds("policy period", policy_period_seconds)
    sync = _check_positive_seconds("sync period", sync_period_seconds)
    return max(0, steps - 1) * math.ceil(period / sync) * sync


def hpa_readiness_seconds(
    *,
    app_boot_seconds: float = 5.0,
    initial_delay_seconds: float = 0.0,
    period_seconds: float = 10.0,
    endpoint_propagation_seconds: float = 0.5,
) -> float:
    """Container start → Ready and in the endpoints: the first probe tick at or after boot.

    Probes run at initialDelay, initialDelay + period, …; with successThreshold 1 the pod is
    Ready at the first tick >= the app's boot time: initialDelay + ⌈max(0, boot − initialDelay)
    / period⌉·period, then EndpointSlice and proxy propagation. Units: seconds.
    Valid for boot, delay, propagation >= 0 and period > 0.
    """
    boot = _check_seconds("app boot time", app_boot_seconds)
    delay = _check_seconds("initial delay", initial_delay_seconds)
    period = _check_positive_seconds("probe period", period_seconds)
    propagation = _check_seconds("endpoint propagation", endpoint_propagation_seconds)
    ticks = math.ceil(max(0.0, boot - delay) / period)
    return delay + ticks * period + propagation


def hpa_lag_budget(
    *,
    metric_resolution_seconds: float = 15.0,
    housekeeping_interval_seconds: float = 10.0,
    crossing_fraction: float = 0.0,
    metric_pipeline_seconds: float | None = None,
    sync_period_seconds: float = 15.0,
    scale_up_stabilization_seconds: float = 0.0,
    current_replicas: int = 1,
    desired_replicas: int = 1,
    scale_up_pods: int = 4,
    scale_up_percent: float = 100.0,
    policy_period_seconds: float = 15.0,
    api_seconds: float = 0.5,
    scheduling_seconds: float = 0.5,
    image_pull_seconds: float = 0.0,
    container_start_seconds: float = 2.0,
    app_boot_seconds: float = 5.0,
    readiness_initial_delay_seconds: float = 0.0,
    readiness_period_seconds: float = 10.0,
    endpoint_propagation_seconds: float = 0.5,
) -> LagBudget:
    """The expected step → Ready lag, term by term (see the module docstring for defaults).

    ``metric_pipeline_seconds`` replaces the metrics-server term when the metric comes another
    way (e.g. Prometheus + adapter: scrape interval, ``rate()`` window, adapter relist); leave it
    None to use ``hpa_metric_pipeline_seconds``. The replica counts only feed the rate-limit term:
    with the default 1 → 1 it is 0, i.e. the budget is the lag to the *first* new pods, which a
    single step always brings. Assumes nodes with room (a cluster autoscaler adds minutes) and
    cached images unless ``image_pull_seconds`` says otherwise. Units: seconds.
    """
    if metric_pipeline_seconds is None:
        pipeline = hpa_metric_pipeline_seconds(
            metric_resolution_seconds=metric_resolution_seconds,
            housekeeping_interval_seconds=housekeeping_interval_seconds,
            crossing_fraction=crossing_fraction,
        )
    else:
        pipeline = _check_seconds("metric pipeline", metric_pipeline_seconds)
    return LagBudget(
        metric_pipeline_seconds=pipeline,
        sync_pickup_seconds=hpa_sync_pickup_seconds(sync_period_seconds=sync_period_seconds),
        stabilization_seconds=_check_seconds("scale-up stabilization", scale_up_stabilization_seconds),
        rate_limit_seconds=hpa_rate_limit_wait_seconds(
            current_replicas=current_replicas,
            desired_replicas=desired_replicas,
            scale_up_pods=scale_up_pods,
            scale_up_percent=scale_up_percent,
            policy_period_seconds=policy_period_seconds,
            sync_period_seconds=sync_period_seconds,
        ),
        api_scheduling_seconds=_check_seconds("API", api_seconds)
        + _check_seconds("scheduling", scheduling_seconds),
        container_start_seconds=_check_seconds("image pull", image_pull_seconds)
        + _check_seconds("container start", container_start_seconds),
        readiness_seconds=hpa_readiness_seconds(
            app_boot_seconds=app_boot_seconds,
            initial_delay_seconds=readiness_initial_delay_seconds,
            period_seconds=readiness_period_seconds,
            endpoint_propagation_seconds=endpoint_propagation_seconds,
        ),
    )


def hpa_scale_down_lag_seconds(
    *,
    metric_resolution_seconds: float = 15.0,
    housekeeping_interval_seconds: float = 10.0,
    sync_period_seconds: float = 15.0,
    scale_down_stabilization_seconds: float = 300.0,
    termination_grace_seconds: float = 30.0,
) -> float:
    """Expected load-drop → pods gone lag: full drop visible + window + pickup + grace.

    1.5·R + h/2 (the whole drop must show, ``hpa_metric_pipeline_seconds`` with φ = 1), then
    the 300 s scale-down stabilization window (the maximum recommendation over the window must
    fall), S/2 for the next sync, and up to ``terminationGracePeriodSeconds`` (30 s) for the pods
    to leave. Defaults give 365 s, the reference's "5.5–6 min plus the grace period".
    Units: seconds.
    """
    visible = hpa_metric_pipeline_seconds(
        metric_resolution_seconds=metric_resolution_seconds,
        housekeeping_interval_seconds=housekeeping_interval_seconds,
        crossing_fraction=1.0,
    )
    return (
        visible
        + _check_seconds("scale-down stabilization", scale_down_stabilization_seconds)
        + hpa_sync_pickup_seconds(sync_period_seconds=sync_period_seconds)
        + _check_seconds("termination grace", termination_grace_seconds)
    )


# --------------------------------------------------------------------------------------------
# The worst case: every term at its maximum.
# --------------------------------------------------------------------------------------------


def hpa_metric_pipeline_max_seconds(
    *,
    metric_resolution_seconds: float = 15.0,
    housekeeping_interval_seconds: float = 10.0,
    crossing_fraction: float = 0.0,
) -> float:
    """The longest the served metric can take to cross the threshold, φ·R + R + h (a supremum).

    The same mechanism as ``hpa_metric_pipeline_seconds``, with the two random phases at their
    ends: the next metrics-server scrape is almost R away (U[0, R)) and the kubelet sample it
    reads is h old. Reference ranges: [0, R + H] for a partial rise (φ = 0), [R, 2R + H] for the
    full step (φ = 1). Units: seconds. Valid for R > 0, h >= 0, φ in [0, 1].
    """
    expected = hpa_metric_pipeline_seconds(
        metric_resolution_seconds=metric_resolution_seconds,
        housekeeping_interval_seconds=housekeeping_interval_seconds,
        crossing_fraction=crossing_fraction,
    )
    # The expected value holds R/2 + h/2 for the two uniform phases; their maxima are R and h.
    return expected + float(metric_resolution_seconds) / 2.0 + float(housekeeping_interval_seconds) / 2.0


def hpa_sync_pickup_max_seconds(*, sync_period_seconds: float = 15.0) -> float:
    """The longest wait for the HPA sync after the crossing, S (the supremum of U[0, S)).

    Ignores the reconcile time of a sync itself (the controller's own work, well under a second
    for one HPA). Units: seconds. Valid for S > 0.
    """
    return 2.0 * hpa_sync_pickup_seconds(sync_period_seconds=sync_period_seconds)


def hpa_lag_bound(
    *,
    metric_resolution_seconds: float = 15.0,
    housekeeping_interval_seconds: float = 15.0,
    crossing_fraction: float = 0.0,
    metric_pipeline_seconds: float | None = None,
    sync_period_seconds: float = 15.0,
    scale_up_stabilization_seconds: float = 0.0,
    current_replicas: int = 1,
    desired_replicas: int = 1,
    scale_up_pods: int = 4,
    scale_up_percent: float = 100.0,
    policy_period_seconds: float = 15.0,
    api_seconds: float = 1.0,
    scheduling_seconds: float = 1.0,
    image_pull_seconds: float = 0.0,
    container_start_seconds: float = 3.0,
    app_boot_seconds: float = 5.0,
    readiness_initial_delay_seconds: float = 0.0,
    readiness_period_seconds: float = 10.0,
    endpoint_propagation_seconds: float = 1.0,
) -> LagBudget:
    """The worst-case step → Ready lag: every term of ``hpa_lag_budget`` at its maximum.

    The two random terms take their suprema (``hpa_metric_pipeline_max_seconds``,
    ``hpa_sync_pickup_max_seconds``); the others are the same deterministic terms as the
    expected budget (stabilization window, rate-limit rounds, readiness rounded up to a probe
    tick), fed with the upper ends of the reference's ranges by default: housekeeping stretched
    to 15 s, API writes and scheduling 1 s each, container start 3 s, endpoint propagation 1 s.
    A ``metric_pipeline_seconds`` override (a measured Prometheus-adapter delay) is used as is.
    With the defaults: 30 + 15 + 0 + 0 + 2 + 3 + 11 = 61 s, the top of the reference's 20–60 s.
    Not bounded here: node provisioning, image pulls (pass them), a slow API server.
    Units: seconds; validity as ``hpa_lag_budget``.
    """
    budget = hpa_lag_budget(
        metric_resolution_seconds=metric_resolution_seconds,
        housekeeping_interval_seconds=housekeeping_interval_seconds,
        crossing_fraction=crossing_fraction,
        metric_pipeline_seconds=metric_pipeline_seconds,
        sync_period_seconds=sync_period_seconds,
        scale_up_stabilization_seconds=scale_up_stabilization_seconds,
        current_replicas=current_replicas,
        desired_replicas=desired_replicas,
        scale_up_pods=scale_up_pods,
        scale_up_percent=scale_up_percent,
        policy_period_seconds=policy_period_seconds,
        api_seconds=api_seconds,
        scheduling_seconds=scheduling_seconds,
        image_pull_seconds=image_pull_seconds,
        container_start_seconds=container_start_seconds,
        app_boot_seconds=app_boot_seconds,
        readiness_initial_delay_seconds=readiness_initial_delay_seconds,
        readiness_period_seconds=readiness_period_seconds,
        endpoint_propagation_seconds=endpoint_propagation_seconds,
    )
    if metric_pipeline_seconds is None:
        pipeline = hpa_metric_pipeline_max_seconds(
            metric_resolution_seconds=metric_resolution_seconds,
            housekeeping_interval_seconds=housekeeping_interval_seconds,
            crossing_fraction=crossing_fraction,
        )
    else:
        pipeline = budget.metric_pipeline_seconds
    return dataclasses.replace(
        budget,
        metric_pipeline_seconds=pipeline,
        sync_pickup_seconds=hpa_sync_pickup_max_seconds(sync_period_seconds=sync_period_seconds),
    )
