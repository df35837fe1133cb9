"""A small seeded discrete-event simulator of G/G/c/K FCFS queues, for cross-checking formulas.

Poisson arrivals; exponential, deterministic or lognormal service; c identical servers;
optional capacity K (in service + queued) beyond which an arrival is blocked and lost.
It returns per-customer waits and sojourns, the blocked count and the time-average number in
system, so a test can hold every formula in ``queueing`` against an independent computation.

How it works: under FCFS with identical servers an arrival starts service when the earliest
server frees up (or at once), so customers are processed in arrival order with two heaps —
server free times and departure times of those in the system (the departures heap gives the
number in system an arrival sees, which decides blocking). Everything is stdlib ``random``
(one ``random.Random(seed)`` per run, so runs are reproducible) and ``heapq``.

Measurement practice (as in Ciw's docs): discard a warm-up, run independent replications with
different seeds, and compare the average across replications with a stated tolerance.
"""

import dataclasses
import heapq
import math
import random
from collections.abc import Sequence

SERVICE_KINDS = ("exponential", "deterministic", "lognormal")


@dataclasses.dataclass(frozen=True)
class ServiceTime:
    """A service-time distribution given by its mean and squared coefficient of variation."""

    kind: str
    """One of ``exponential`` (SCV 1), ``deterministic`` (SCV 0) or ``lognormal`` (any SCV > 0)."""
    mean_seconds: float
    """Mean service time E[S] in seconds; the service rate is 1/E[S]."""
    scv: float = 1.0
    """Var(S)/E[S]²; only read for ``lognormal`` (σ² = ln(1 + SCV))."""

    def __post_init__(self) -> None:
        if self.kind not in SERVICE_KINDS:
            raise ValueError(f"service kind {self.kind!r} is not one of {', '.join(SERVICE_KINDS)}")
        if not 0.0 < self.mean_seconds < math.inf:
            raise ValueError(f"mean service time {self.mean_seconds:g} s must be a finite number > 0")
        if self.kind == "lognormal" and not 0.0 < self.scv < math.inf:
            raise ValueError(f"lognormal SCV {self.scv:g} must be a finite number > 0")

    @property
    def squared_coefficient_of_variation(self) -> float:
        """The SCV this distribution really has (1 exponential, 0 deterministic)."""
        return {"exponential": 1.0, "deterministic": 0.0}.get(self.kind, self.scv)

    def sample(self, rng: random.Random) -> float:
        """Draw one service time in seconds."""
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean_seconds)
        if self.kind == "deterministic":
            return self.mean_seconds
        sigma_squared = math.log1p(self.scv)
        return rng.lognormvariate(math.log(self.mean_seconds) - sigma_squared / 2.0, math.sqrt(sigma_squared))


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """What one run measured inside its window (after the warm-up)."""

    waits_seconds: tuple[float, ...]
    """Queueing delay of each admitted customer that arrived after the warm-up, in arrival order."""
    sojourns_seconds: tuple[float, ...]
    """Response time (wait + service) of the same customers."""
    arrivals: int
    """Customers that arrived after the warm-up, admitted or blocked."""
    blocked: int
    """Of those, how many found the system full (K in it) and were lost."""
    window_seconds: float
    """From the first to the last arrival after the warm-up."""
    mean_number_in_system: float
    """Time-average of the number in system over the window (an "in-flight gauge")."""

    @property
    def blocking_fraction(self) -> float:
        return self.blocked / self.arrivals if self.arrivals else 0.0

    @property
    def mean_wait_seconds(self) -> float:
        return math.fsum(self.waits_seconds) / len(self.waits_seconds)

    @property
    def mean_sojourn_seconds(self) -> float:
        return math.fsum(self.sojourns_seconds) / len(self.sojourns_seconds)

    @property
    def wait_probability(self) -> float:
        """Share of admitted customers that had to queue at all."""
        return sum(1 for wait in self.waits_seconds if wait > 0.0) / len(self.waits_seconds)

    @property
    def throughput_per_second(self) -> float:
        """Admitted customers per second over the window."""
        return len(self.sojourns_seconds) / self.window_seconds

    def sojourn_quantile_seconds(self, quantile: float) -> float:
        """Empirical quantile of the sojourn times (nearest rank)."""
        return _nearest_rank(self.sojourns_seconds, quantile)

    def wait_quantile_seconds(self, quantile: float) -> float:
        """Empirical quantile of the waits (nearest rank)."""
        return _nearest_rank(self.waits_seconds, quantile)


def _nearest_rank(values: Sequence[float], quantile: float) -> float:
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile {quantile:g} must lie strictly between 0 and 1")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))]


def simulate_queue(
    *,
    arrival_rate_per_second: float,
    service: ServiceTime,
    servers: int = 1,
    capacity: int | None = None,
    customers: int = 50_000,
    warmup_customers: int = 5_000,
    seed: int = 0,
) -> SimulationResult:
    """Run one replication of an M/G/c/K FCFS queue and measure it after the warm-up.

    ``customers`` arrivals are generated in all (Poisson, rate λ); the first ``warmup_customers``
    are simulated but not measured. ``capacity`` None means an unbounded queue (then ρ < 1 is
    needed for the measurement to mean anything; the simulator does not check it).
    """
    if not 0.0 < arrival_rate_per_second < math.inf:
        raise ValueError(f"arrival rate {arrival_rate_per_second:g}/s must be a finite number > 0")
    if isinstance(servers, bool) or int(servers) != servers or servers < 1:
        raise ValueError(f"servers {servers} must be a whole number >= 1")
    if capacity is not None and (int(capacity) != capacity or capacity < servers):
        raise ValueError(f"capacity {capacity} must be a whole number >= servers {servers}")
    if not 0 <= warmup_customers < customers:
        raise ValueError(f"warm-up {warmup_customers} must be >= 0 and below customers {customers}")
    rng = random.Random(seed)
    limit = math.inf if capacity is None else int(capacity)
    free_at = [0.0] * int(servers)  # heap: when each server next becomes free
    departures: list[float] = []  # heap: departure times of customers still in the system
    waits: list[float] = []
    sojourns: list[float] = []
    stays: list[tuple[float, float]] = []  # (arrival, departure) of every admitted customer
    blocked = arrivals = 0
    now = window_start = 0.0
    for index in range(customers):
        now += rng.expovariate(arrival_rate_per_second)
        while departures and departures[0] <= now:
            heapq.heappop(departures)
        measured = index >= warmup_customers
        if index == warmup_customers:
            window_start = now
        arrivals += measured
        if len(departures) >= limit:
            blocked += measured
            continue
        start = max(now, heapq.heappop(free_at))
        end = start + service.sample(rng)
        heapq.heappush(free_at, end)
        heapq.heappush(departures, end)
        stays.append((now, end))
        if measured:
            waits.append(start - now)
            sojourns.append(end - now)
    window_end = now
    # ∫ N(t) dt over the window = Σ over customers of the overlap of their stay with it.
    area = math.fsum(max(0.0, min(leave, window_end) - max(come, window_start)) for come, leave in stays)
    return SimulationResult(
        waits_seconds=tuple(waits),
        sojourns_seconds=tuple(sojourns),
        arrivals=arrivals,
        blocked=blocked,
        window_seconds=window_end - window_start,
        mean_number_in_system=area / (window_end - window_start),
    )


def simulate_replications(*, replications: int, seed: int = 0, **queue: object) -> list[SimulationResult]:
    """Run ``simulate_queue`` ``replications`` times with seeds seed, seed + 1, …."""
    return [simulate_queue(seed=seed + index, **queue) for index in range(replications)]  # type: ignore[arg-type]
