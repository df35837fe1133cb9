"""Request classes as the locustfile draws them (loadtests/classes.py), without Locust.

Aspects:

- without classes nothing is drawn and the body is the client's token counts alone, exactly what
  a scenario without classes sends;
- a class's body carries its tenant, priority and token counts (the client's where it gives none);
- the draws are seeded: the same seed and worker give the same classes, another worker another stream;
- each class's count over many draws is within 5 binomial standard deviations of n × share
  (the bound is computed from n and the share, not guessed), for the classes' own shares and for a
  stage's override; a class of share 0, or one a stage's override leaves out, is never drawn;
- shares that do not sum to a positive total are refused with the stage named.
"""
import math

import pytest

from loadtests import classes

CLIENT = {"prompt_tokens": 128, "output_tokens": 64}
MIXED = {**CLIENT, "classes": [
    {"name": "interactive", "share": 0.7, "priority": "interactive", "tenant": "a", "output_tokens": 16},
    {"name": "batch", "share": 0.3, "priority": "batch", "prompt_tokens": 512},
]}
STAGE = {"name": "steady", "duration_seconds": 10, "arrival_rate_per_second": 5}


def counts(mix: classes.Mix, stage_index: int, draws: int, seed: int = 1) -> dict[str, int]:
    rng = classes.class_rng(seed, 0)
    found: dict[str, int] = {}
    for _ in range(draws):
        name = mix.draw(stage_index, rng)["name"]
        found[name] = found.get(name, 0) + 1
    return found


def within_binomial_bounds(count: int, draws: int, share: float, z: float = 5.0) -> bool:
    """|count − n p| ≤ z √(n p (1 − p)): a seeded draw outside it would happen once in millions."""
    return abs(count - draws * share) <= z * math.sqrt(draws * share * (1 - share))


def test_without_classes_nothing_is_drawn_and_the_body_is_the_clients_token_counts():
    mix = classes.Mix(CLIENT, [STAGE])
    assert mix.draw(0, classes.class_rng(1, 0)) is None
    assert mix.body(None) == {"prompt_tokens": 128, "output_tokens": 64}


def test_a_class_body_carries_its_tenant_priority_and_token_counts():
    mix = classes.Mix(MIXED, [STAGE])
    interactive, batch = MIXED["classes"]
    assert mix.body(interactive) == {"prompt_tokens": 128, "output_tokens": 16, "priority": "interactive",
                                     "tenant": "a"}
    assert mix.body(batch) == {"prompt_tokens": 512, "output_tokens": 64, "priority": "batch"}


def test_the_draws_are_seeded_per_worker():
    mix = classes.Mix(MIXED, [STAGE])

    def sequence(seed: int, worker: int) -> list[str]:
        rng = classes.class_rng(seed, worker)
        return [mix.draw(0, rng)["name"] for _ in range(200)]

    assert sequence(3, 0) == sequence(3, 0)
    assert sequence(3, 0) != sequence(3, 1)
    assert sequence(3, 0) != sequence(4, 0)


def test_each_class_gets_its_share_of_the_draws_within_binomial_bounds():
    draws = 20_000
    found = counts(classes.Mix(MIXED, [STAGE]), 0, draws)
    assert sum(found.values()) == draws
    assert within_binomial_bounds(found["interactive"], draws, 0.7)
    assert within_binomial_bounds(found["batch"], draws, 0.3)


def test_a_stage_override_replaces_the_shares_and_a_class_it_leaves_out_is_never_drawn():
    stages = [STAGE, {**STAGE, "name": "surge", "classes": {"interactive": 0.1, "batch": 0.9}},
              {**STAGE, "name": "only-batch", "classes": {"batch": 1.0}}]
    mix = classes.Mix(MIXED, stages)
    draws = 20_000
    surge = counts(mix, 1, draws)
    assert within_binomial_bounds(surge["interactive"], draws, 0.1)
    assert within_binomial_bounds(surge["batch"], draws, 0.9)
    assert counts(mix, 2, 2_000) == {"batch": 2_000}


def test_a_class_of_share_zero_is_never_drawn():
    client = {**CLIENT, "classes": [{"name": "never", "share": 0.0}, {"name": "always", "share": 1.0}]}
    assert counts(classes.Mix(client, [STAGE]), 0, 2_000) == {"always": 2_000}


def test_shares_summing_to_nothing_are_refused_naming_the_stage():
    with pytest.raises(ValueError, match="stage 'empty': the class shares sum to 0"):
        classes.cumulative_shares(MIXED["classes"], {**STAGE, "name": "empty", "classes": {}})
