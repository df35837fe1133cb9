"""How the scenario loader reports problems, line by line, and the schema helpers behind it.

``test_scenario.py`` checks that bad scenarios are refused; this module checks the exact report a
user reads. We test these aspects:

- unreadable YAML, a top level that is not a mapping, a name that is not the file's, an unknown
  catalog name: one sentence each, starting with the file;
- one line per problem: the dotted field, "unknown key" with the keys allowed at that level
  (through nested models, ``services.<name>``, list items and optional blocks), or pydantic's rule
  with the value it got;
- the closed-graph rules (entry, calls, autoscaling, SLO services), each naming the offending key;
- an autoscaling block's HorizontalPodAutoscalerSpec, per-service Envoy overrides, ``.yml`` files;
- the annotation helpers ``allowed_keys``, ``step_into`` and ``unwrap`` on their own.
"""
from __future__ import annotations

import copy
import pathlib
import typing

import pydantic
import pytest
import yaml

from schema import scenario

BASE = {
    "name": "tiny",
    "entry": "formatter",
    "services": {"formatter": {}},
    "stages": [{"name": "steady", "duration_seconds": 10, "arrival_rate_per_second": 2}],
}
PODS_METRIC = {"type": "Pods", "pods": {"metric": {"name": "m"}, "target": {"type": "AverageValue", "averageValue": "1"}}}


def write(tmp_path: pathlib.Path, document: object, name: str = "tiny", suffix: str = ".yaml") -> pathlib.Path:
    path = tmp_path / f"{name}{suffix}"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def refusal(tmp_path: pathlib.Path, document: object, **kwargs) -> str:
    path = write(tmp_path, document, **kwargs)
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(path)
    return str(raised.value)


def changed(**changes) -> dict:
    document = copy.deepcopy(BASE)
    document.update(changes)
    return document


def test_unreadable_yaml_is_refused_naming_the_file(tmp_path) -> None:
    message = refusal(tmp_path, "name: [unclosed\n")
    assert message.startswith(f"{tmp_path / 'tiny.yaml'}: not valid YAML: ")


@pytest.mark.parametrize("text", ["- a list\n", "just text\n", ""])
def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path, text: str) -> None:
    assert refusal(tmp_path, text) == f"{tmp_path / 'tiny.yaml'}: expected a mapping of scenario fields at the top level"


def test_the_name_must_equal_the_file_name(tmp_path) -> None:
    message = refusal(tmp_path, BASE, name="other")
    assert message == f"{tmp_path / 'other.yaml'}: name: 'tiny' must equal the file name 'other'"


def test_an_unknown_catalog_name_lists_every_catalog_scenario() -> None:
    known = ", ".join(sorted(p.stem for p in scenario.SCENARIO_DIR.glob("*.yaml")))
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario("no-such-scenario")
    assert str(raised.value) == f"no-such-scenario: no such scenario file; catalog: {known}"


def test_a_missing_file_path_is_refused_like_an_unknown_name(tmp_path) -> None:
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(tmp_path / "absent.yaml")
    assert str(raised.value).startswith(f"{tmp_path / 'absent.yaml'}: no such scenario file; catalog: ")


def test_a_yml_file_and_a_catalog_name_both_load(tmp_path) -> None:
    assert scenario.load_scenario(write(tmp_path, BASE, suffix=".yml")).name == "tiny"
    assert scenario.resolve_path("smoke") == scenario.SCENARIO_DIR / "smoke.yaml"


def test_each_problem_is_one_line_with_the_dotted_field(tmp_path) -> None:
    document = changed(stages=[{"name": "s", "duration_seconds": 5, "arrival_rate_per_second": 2, "rate": 1}],
                       slo={"end_to_end": {"latency_seconds": 1, "quantile": 0.9}},
                       client={"retries": 11})
    document["services"]["formatter"]["bogus"] = 1
    lines = refusal(tmp_path, document).splitlines()
    assert lines[0] == f"{tmp_path / 'tiny.yaml'}: invalid scenario:"
    service_keys = ", ".join(sorted(scenario.ServiceSpec.model_fields))
    assert f"  services.formatter.bogus: unknown key; allowed here: {service_keys}" in lines
    assert ("  stages.0.rate: unknown key; allowed here: arrival_rate_per_second, arrivals, burst, classes, "
            "duration_seconds, name, ramp, sine, spike, square, trace") in lines
    assert not any(line.startswith("  stages: ") for line in lines)  # no echo of the failed item as "too short"
    assert "  slo.end_to_end.quantile: unknown key; allowed here: latency_seconds" in lines
    assert "  client.retries: Input should be less than or equal to 10 (got 11)" in lines


def test_an_unknown_top_level_key_lists_the_scenario_keys(tmp_path) -> None:
    lines = refusal(tmp_path, changed(sed=1)).splitlines()
    assert lines[1] == f"  sed: unknown key; allowed here: {', '.join(sorted(scenario.Scenario.model_fields))}"


def test_an_unknown_key_inside_free_form_metrics_allows_nothing_listed(tmp_path) -> None:
    assert scenario.allowed_keys(scenario.Scenario, ("autoscaling", "inference", "metrics", 0)) == []


@pytest.mark.parametrize("change, rule", [
    ({"entry": "gateway"}, "entry service 'gateway' is not under services"),
    ({"autoscaling": {"auth": {"maxReplicas": 2, "metrics": [PODS_METRIC]}}}, "autoscaling.auth: 'auth' is not under services"),
    ({"slo": {"end_to_end": {"latency_seconds": 1}, "services": {"auth": {"latency_seconds": 1}}}},
     "slo.services: 'auth' is not under services"),
    ({"services": {"formatter": {"calls": [{"service": "auth"}]}}}, "services.formatter.calls: 'auth' is not under services"),
])
def test_the_call_graph_and_the_blocks_naming_services_must_be_closed(tmp_path, change, rule: str) -> None:
    message = refusal(tmp_path, changed(**change))
    assert f"\n  {rule}" in message and "(got " not in message and "Value error" not in message


def test_an_invalid_autoscaling_spec_is_refused_with_the_hpa_fields_path(tmp_path) -> None:
    document = changed(autoscaling={"formatter": {"maxReplicas": 2, "metrics": [{"type": "Pods"}]}})
    message = refusal(tmp_path, document)
    assert message.endswith("\n  autoscaling.formatter: spec.metrics[0].pods: is required for type Pods")


def test_an_autoscaling_block_gives_the_hpa_spec_as_written() -> None:
    block = scenario.Autoscaling(minReplicas=2, maxReplicas=5, metrics=(PODS_METRIC,))
    assert block.hpa_spec() == {"minReplicas": 2, "maxReplicas": 5, "metrics": [PODS_METRIC]}
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 0}}
    block = scenario.Autoscaling(maxReplicas=5, metrics=(PODS_METRIC,), behavior=behavior)
    assert block.hpa_spec() == {"minReplicas": 1, "maxReplicas": 5, "metrics": [PODS_METRIC], "behavior": behavior}


def test_a_services_envoy_block_overrides_the_scenario_wide_one() -> None:
    document = copy.deepcopy(BASE)
    document["services"] = {"gateway": {"calls": [{"service": "formatter"}], "envoy": {"route_timeout_seconds": 2}},
                            "formatter": {}}
    document["entry"] = "gateway"
    document["envoy"] = {"route_timeout_seconds": 7}
    loaded = scenario.Scenario.model_validate(document)
    assert loaded.envoy_for("gateway").route_timeout_seconds == 2
    assert loaded.envoy_for("formatter").route_timeout_seconds == 7
    assert loaded.envoy_for("formatter") is loaded.envoy


def test_annotation_helpers_walk_models_dicts_tuples_and_optionals() -> None:
    assert scenario.unwrap(int | None) is int
    assert scenario.unwrap(typing.Optional[str]) is str
    assert scenario.unwrap(int | str | None) == (int | str | None)
    assert scenario.unwrap(int) is int
    assert scenario.step_into(scenario.Scenario, "client") is scenario.Client
    assert scenario.step_into(scenario.Scenario, "nope") is None
    assert scenario.step_into(dict[str, scenario.Stage], "any") is scenario.Stage
    assert scenario.step_into(tuple[scenario.Stage, ...], 0) is scenario.Stage
    assert scenario.step_into(int, "x") is None
    assert scenario.allowed_keys(scenario.Scenario, ("slo",)) == ["end_to_end", "objective", "services"]
    assert scenario.allowed_keys(scenario.Scenario, ("nope", "deeper")) == []
    assert scenario.allowed_keys(scenario.Scenario, ("seed",)) == []


def test_the_description_of_a_validation_error_without_input_still_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        scenario.Stage.model_validate({"name": "", "duration_seconds": 5, "arrival_rate_per_second": 1})
    assert scenario.describe_errors(raised.value) == "  name: String should have at least 1 character (got '')"


def test_an_unknown_key_where_the_schema_cannot_be_walked_says_none_are_listed() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        scenario.Slo.model_validate({"end_to_end": {"latency_seconds": 1, "x": 1}})
    assert scenario.describe_errors(raised.value) == "  end_to_end.x: unknown key; allowed here: (none)"


def test_a_too_short_list_is_reported_but_not_when_only_its_items_failed() -> None:
    def description(stages: list) -> str:
        with pytest.raises(pydantic.ValidationError) as raised:
            scenario.Scenario.model_validate(changed(stages=stages))
        return scenario.describe_errors(raised.value)

    assert description([]) == "  stages: Tuple should have at least 1 item after validation, not 0 (got [])"
    # pydantic also says "too short" here, counting the stage that failed: the stage's own line is the problem
    assert description([{"name": "s", "duration_seconds": -5, "arrival_rate_per_second": 2}]) == \
        "  stages.0.duration_seconds: Input should be greater than 0 (got -5)"


VARIANTS = {
    "slow": {"description": "a longer client timeout", "set": {"client.timeout_seconds": 9}},
    "wide": {"description": "more requests in flight", "set": {"client.max_in_flight": 300}},
}


def test_each_variant_starts_from_the_base_not_from_the_variant_before_it(tmp_path) -> None:
    path = write(tmp_path, changed(client={"timeout_seconds": 4}, variants=VARIANTS))
    wide = scenario.load_scenario(path, variant="wide")  # loaded after "slow" has been applied
    assert (wide.client.timeout_seconds, wide.client.max_in_flight) == (4, 300)
    slow = scenario.load_scenario(path, variant="slow")
    assert slow.client.timeout_seconds == 9 and slow.client.max_in_flight == scenario.Client().max_in_flight


def test_an_unknown_variant_lists_the_files_variants_or_none(tmp_path) -> None:
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(write(tmp_path, changed(variants=VARIANTS)), variant="fast")
    assert str(raised.value) == f"{tmp_path / 'tiny.yaml'}: no variant 'fast'; its variants: slow, wide"
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(write(tmp_path, BASE), variant="fast")
    assert str(raised.value) == f"{tmp_path / 'tiny.yaml'}: no variant 'fast'; its variants: none"


def test_a_variant_setting_through_a_plain_value_is_refused_naming_the_file(tmp_path) -> None:
    variants = {"odd": {"description": "sets inside the name", "set": {"name.value": "x"}}}
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(write(tmp_path, changed(variants=variants)))
    assert str(raised.value) == (f"{tmp_path / 'tiny.yaml'}: variants.odd.set: 'name.value' goes through 'name', "
                                 "which is no block")


def test_applying_a_variant_leaves_every_variants_settings_as_written(tmp_path) -> None:
    # "services" replaces the block whole, then a dotted key sets inside that new block
    variants = {"pooled": {"description": "two servers, a short queue",
                           "set": {"services": {"formatter": {"servers": 2}}, "services.formatter.queue_limit": 5}},
                **VARIANTS}
    path = write(tmp_path, changed(variants=variants))
    pooled = scenario.load_scenario(path, variant="pooled")
    assert (pooled.services["formatter"].servers, pooled.services["formatter"].queue_limit) == (2, 5)
    for loaded in (scenario.load_scenario(path), scenario.load_scenario(path, variant="wide")):
        assert loaded.variants["pooled"].set == variants["pooled"]["set"]
        assert loaded.services["formatter"].servers is None
