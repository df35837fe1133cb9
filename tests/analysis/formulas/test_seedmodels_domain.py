"""The seed lab's toy constants at the edges of their domain.

``test_seedmodels.py`` compares the constants with the formulas; this module checks what each
accepts and refuses: zero is valid for a mean and a utilisation, infinity and negatives are not,
every fraction argument is named in its refusal.
"""
from __future__ import annotations

import pytest

from analysis.formulas import seedmodels


def test_zero_mean_and_zero_utilisation_are_valid() -> None:
    assert seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=0) == 0.0
    assert seedmodels.seed_shed_success_fraction(utilisation=0) == 1.0
    assert seedmodels.seed_shed_success_fraction(utilisation=1.0) == 0.8


@pytest.mark.parametrize("call, message", [
    (lambda: seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=float("inf")),
     "mean response time inf s must be a finite number >= 0"),
    (lambda: seedmodels.seed_p99_response_time_seconds(mean_response_time_seconds=-1),
     "mean response time -1 s must be a finite number >= 0"),
    (lambda: seedmodels.seed_shed_success_fraction(utilisation=float("inf")), "utilisation inf must be a finite number >= 0"),
    (lambda: seedmodels.seed_shed_success_fraction(utilisation=-0.5), "utilisation -0.5 must be a finite number >= 0"),
    (lambda: seedmodels.seed_shed_success_fraction(utilisation=2, shed_factor=1.5), "shed factor 1.5 must lie in [0, 1]"),
    (lambda: seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[0.1, -0.2]),
     "failure probability -0.2 must lie in [0, 1]"),
    (lambda: seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[]),
     "failure probabilities are empty: a chain needs at least one service"),
    (lambda: seedmodels.seed_cascade_goodput_fraction(failure_probabilities=[0.1], cascade_factor=2),
     "cascade factor 2 must lie in [0, 1]"),
])
def test_each_argument_outside_its_domain_is_refused_with_a_sentence_naming_it(call, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message
