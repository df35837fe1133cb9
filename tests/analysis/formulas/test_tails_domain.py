"""Tail-latency and SLO-composition formulas at the edges of their domain.

``test_tails.py`` checks published values; this module checks what each formula accepts and
refuses. We test these aspects: every probability, count and quantile argument is refused with an
exact sentence naming it; certain failure (p = 1) and the quantile bounds give their limits; the
hedged quantile switches formula exactly at the hedge quantile.
"""
from __future__ import annotations

import math

import pytest

from analysis.formulas import tails


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: tails.slo_serial_failure_probability(failure_probabilities=[0.1, 1.5]),
                 "failure probability 1.5 must lie in [0, 1]", id="serial-probability"),
    pytest.param(lambda: tails.slo_serial_failure_probability(failure_probabilities=[]),
                 "failure probabilities are empty: a chain needs at least one service", id="serial-empty"),
    pytest.param(lambda: tails.slo_budget_per_service_failure_probability(end_to_end_failure_probability=-0.1, services=2),
                 "end-to-end failure probability -0.1 must lie in [0, 1]", id="budget-probability"),
    pytest.param(lambda: tails.slo_budget_per_service_failure_probability(end_to_end_failure_probability=0.1, services=True),
                 "services True must be a whole number >= 1", id="budget-boolean-services"),
    pytest.param(lambda: tails.slo_budget_per_service_failure_probability(end_to_end_failure_probability=0.1, services=2.5),
                 "services 2.5 must be a whole number >= 1", id="budget-fractional-services"),
    pytest.param(lambda: tails.slo_correlated_failure_probability(failure_probabilities=[0.1], correlation=2),
                 "correlation 2 must lie in [0, 1]", id="correlation"),
    pytest.param(lambda: tails.slo_shared_cause_failure_probability(shared_failure_probability=1.1,
                                                                    failure_probabilities=[0.1]),
                 "shared failure probability 1.1 must lie in [0, 1]", id="shared"),
    pytest.param(lambda: tails.slo_implied_correlation(failure_probabilities=[0.1, 0.2], end_to_end_failure_probability=3),
                 "end-to-end failure probability 3 must lie in [0, 1]", id="implied-measured"),
    pytest.param(lambda: tails.slo_implied_correlation(failure_probabilities=[0.2, 0.0], end_to_end_failure_probability=0.2),
                 "independent and fully correlated predictions coincide: the correlation is not identifiable",
                 id="implied-not-identifiable"),
    pytest.param(lambda: tails.fanout_slow_probability(leaf_slow_probability=-1, fanout=3),
                 "leaf slow probability -1 must lie in [0, 1]", id="fanout-probability"),
    pytest.param(lambda: tails.fanout_leaf_quantile(request_quantile=1.5, fanout=3),
                 "request quantile 1.5 must lie in [0, 1]", id="leaf-quantile-range"),
    pytest.param(lambda: tails.fanout_leaf_quantile(request_quantile=0.0, fanout=3),
                 "request quantile 0 must lie strictly between 0 and 1", id="leaf-quantile-zero"),
    pytest.param(lambda: tails.fanout_leaf_quantile(request_quantile=0.5, fanout=0),
                 "fanout 0 must be a whole number >= 1", id="leaf-quantile-fanout"),
    pytest.param(lambda: tails.hedged_exceedance_probability(first_exceedance_probability=2, hedge_exceedance_probability=0.1),
                 "first exceedance probability 2 must lie in [0, 1]", id="hedged-first"),
    pytest.param(lambda: tails.hedged_exceedance_probability(first_exceedance_probability=0.1, hedge_exceedance_probability=2),
                 "hedge exceedance probability 2 must lie in [0, 1]", id="hedged-second"),
    pytest.param(lambda: tails.hedged_extra_request_fraction(hedge_quantile=-0.5),
                 "hedge quantile -0.5 must lie in [0, 1]", id="extra-fraction"),
    pytest.param(lambda: tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=0.01, hedge_quantile=1.2,
                                                                           quantile=0.9),
                 "hedge quantile 1.2 must lie in [0, 1]", id="hedged-quantile-range"),
    pytest.param(lambda: tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=0.01, hedge_quantile=1.0,
                                                                           quantile=0.9),
                 "hedge quantile 1 means never hedging: use the unhedged quantile", id="hedged-quantile-one"),
    pytest.param(lambda: tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=0.01, hedge_quantile=0.9,
                                                                           quantile=1.5),
                 "quantile 1.5 must lie in [0, 1]", id="quantile-range"),
    pytest.param(lambda: tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=0.01, hedge_quantile=0.9,
                                                                           quantile=1.0),
                 "quantile 1 must lie strictly between 0 and 1", id="quantile-one"),
    pytest.param(lambda: tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=0.01, hedge_quantile=0.9,
                                                                           quantile=0.0),
                 "quantile 0 must lie strictly between 0 and 1", id="quantile-zero"),
])
def test_each_argument_outside_its_domain_is_refused_with_a_sentence_naming_it(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_certain_failure_composes_to_certain_failure() -> None:
    assert tails.slo_budget_per_service_failure_probability(end_to_end_failure_probability=1.0, services=3) == 1.0
    assert tails.fanout_slow_probability(leaf_slow_probability=1.0, fanout=3) == 1.0


def test_a_leaf_quantile_near_one_is_still_accepted() -> None:
    assert tails.fanout_leaf_quantile(request_quantile=0.999999, fanout=1) == pytest.approx(0.999999, rel=1e-15)


def test_hedged_quantile_at_the_hedge_quantile_is_the_unhedged_one() -> None:
    mean = 0.01
    at_hedge = tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=mean, hedge_quantile=0.95,
                                                                 quantile=0.95)
    assert at_hedge == pytest.approx(-mean * math.log(0.05), rel=1e-15)
    # just above it both copies are outstanding: (d + unhedged)/2
    above = tails.hedged_exponential_latency_quantile_seconds(mean_latency_seconds=mean, hedge_quantile=0.95,
                                                              quantile=0.99)
    assert above == pytest.approx((-mean * math.log(0.05) - mean * math.log(0.01)) / 2, rel=1e-15)
