"""Scenario documents for analysis tests, shaped exactly as a run's ``scenario.json`` holds them."""
from __future__ import annotations

from schema import scenario as scenario_module


def resolved_scenario(**fields) -> dict:
    """A scenario validated by the schema, defaults filled (tolerances included), with the
    ``effective_services`` the runner adds; ``fields`` override the minimal one-stage default."""
    document = {"name": "t", "stages": [{"name": "p", "duration_seconds": 60, "arrival_rate_per_second": 1}],
                "window": {"warmup_seconds": 0, "cooldown_seconds": 0}, **fields}
    loaded = scenario_module.Scenario.model_validate(document)
    return {**loaded.model_dump(mode="json"), "effective_services": loaded.effective_services()}
