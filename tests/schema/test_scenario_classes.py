"""Request classes and tenant bulkheads in the scenario schema (``client.classes``,
``stages[].classes``, ``services.<name>.tenant_limits``, ``tenant_limit_default``).

Aspects: a scenario without classes resolves as before (no classes, no limits); classes load with
their tenant, priority and token counts, and their limits reach the replicas' settings and the
run's ``effective_services``; refused, each with its field named and the fix: shares that do not
sum to 1 (also a stage's override), a class named twice, a class name a criterion path cannot
carry, a bad tenant name, a stage override naming no declared class or given without classes, a
tenant limit for a tenant no class sends, a default limit when no class has a tenant, a criterion
reading a class that does not exist; a variant replaces the limits and the criteria whole; the
CLI says it in one sentence with exit 2.
"""
import copy
import pathlib
import subprocess
import sys

import pytest
import yaml

from schema import scenario

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE = {
    "name": "mix",
    "services": {"gateway": {"calls": [{"service": "inference"}]}, "inference": {}},
    "client": {"classes": [{"name": "a", "share": 0.5, "tenant": "a", "priority": "interactive"},
                           {"name": "b", "share": 0.5, "tenant": "b", "priority": "batch", "prompt_tokens": 512}]},
    "stages": [{"name": "calm", "duration_seconds": 30, "arrival_rate_per_second": 10},
               {"name": "surge", "duration_seconds": 30, "arrival_rate_per_second": 50,
                "classes": {"a": 0.2, "b": 0.8}}],
}


def write(tmp_path: pathlib.Path, document: dict) -> pathlib.Path:
    path = tmp_path / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def refusal(tmp_path: pathlib.Path, document: dict) -> str:
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(write(tmp_path, document))
    return str(raised.value)


def changed(edit) -> dict:
    document = copy.deepcopy(BASE)
    edit(document)
    return document


def test_a_scenario_without_classes_has_neither_classes_nor_limits(tmp_path):
    document = changed(lambda d: (d.pop("client"), d["stages"][1].pop("classes")))
    loaded = scenario.load_scenario(write(tmp_path, document))
    assert loaded.client.classes is None and loaded.client.class_names == []
    assert loaded.effective_services()["inference"]["tenant_limits"] == {}
    assert "tenant_limits" not in loaded.replica_settings("inference")


def test_classes_load_and_the_limits_reach_the_replicas_and_the_effective_services(tmp_path):
    document = changed(lambda d: d["services"]["inference"].update(tenant_limits={"b": 3}, tenant_limit_default=7))
    loaded = scenario.load_scenario(write(tmp_path, document))
    assert [(c.name, c.tenant, c.priority, c.prompt_tokens) for c in loaded.client.classes] == [
        ("a", "a", "interactive", None), ("b", "b", "batch", 512)]
    assert loaded.stages[1].classes == {"a": 0.2, "b": 0.8}
    assert loaded.replica_settings("inference")["tenant_limits"] == {"b": 3}
    assert loaded.replica_settings("inference")["tenant_limit_default"] == 7
    effective = loaded.effective_services()["inference"]
    assert (effective["tenant_limits"], effective["tenant_limit_default"]) == ({"b": 3}, 7)


@pytest.mark.parametrize("edit, expected", [
    pytest.param(lambda d: d["client"]["classes"][1].update(share=0.4),
                 "  client: classes: the shares sum to 0.9; each is its class's share of the arrivals, so they must "
                 "sum to 1: adjust them", id="shares-short"),
    pytest.param(lambda d: d["client"]["classes"][1].update(name="a"),
                 "  client: classes: a named more than once; give each class its own name", id="twice"),
    pytest.param(lambda d: d["client"]["classes"][0].update(name="1st"),
                 "  client.classes.0.name: String should match pattern '^[a-z][a-z0-9-]*$' (got '1st')",
                 id="name-a-path-cannot-carry"),
    pytest.param(lambda d: d["client"]["classes"][0].update(tenant="Tenant A"),
                 "  client.classes.0.tenant: String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$' (got 'Tenant A')",
                 id="bad-tenant"),
    pytest.param(lambda d: d["client"]["classes"][0].update(priority="urgent"),
                 "  client.classes.0.priority: Input should be 'interactive' or 'batch' (got 'urgent')",
                 id="bad-priority"),
    pytest.param(lambda d: d["stages"][1].update(classes={"a": 0.2, "b": 0.7}),
                 "  stages: stage 'surge': classes: the shares sum to 0.9; each is its class's share of the arrivals, "
                 "so they must sum to 1: adjust them", id="stage-shares-short"),
    pytest.param(lambda d: d["stages"][1].update(classes={"a": 0.2, "c": 0.8}),
                 "  stages: stage 'surge': classes: c is no class of client.classes (a, b)", id="stage-unknown-class"),
    pytest.param(lambda d: d.pop("client"),
                 "  stages: stage 'surge': classes: a, b are no classes of client.classes (none: set client.classes first)",
                 id="stage-override-without-classes"),
    pytest.param(lambda d: d["services"]["inference"].update(tenant_limits={"c": 2}),
                 "  services.inference.tenant_limits: no client class sends tenant 'c' (tenants sent: a, b); name a "
                 "tenant of client.classes", id="limit-for-an-unsent-tenant"),
    pytest.param(lambda d: d["services"]["inference"].update(tenant_limits={"b": 0}),
                 "  services.inference.tenant_limits.b: Input should be greater than or equal to 1 (got 0)",
                 id="limit-zero"),
    pytest.param(lambda d: ([c.pop("tenant") for c in d["client"]["classes"]],
                            d["services"]["inference"].update(tenant_limit_default=4)),
                 "  services.inference.tenant_limit_default: no client class sends a tenant, so nothing would be "
                 "capped; give client.classes tenants, or remove it", id="default-without-tenants"),
    pytest.param(lambda d: d.update(story={"question": "q", "teaches": "t", "criteria": [
                     {"name": "c", "says": "{value}", "measure": "surge.client.classes.z.p99_ms", "at_most": 1}]}),
                 "  story.criteria.c.measure: 'surge.client.classes.z.p99_ms' names no client class; write "
                 "<phase>.client.classes.<class>.<field> with a class of client.classes (a, b)",
                 id="criterion-unknown-class"),
])
def test_a_bad_class_or_limit_is_refused_naming_the_field_and_the_fix(tmp_path, edit, expected):
    message = refusal(tmp_path, changed(edit))
    assert expected in message.splitlines(), message


def test_a_criterion_may_read_a_class_and_a_tenants_refusals(tmp_path):
    document = changed(lambda d: d.update(story={"question": "q", "teaches": "t", "criteria": [
        {"name": "c", "says": "{value}", "measure": "surge.client.classes.a.p99_ms / calm.client.classes.a.p99_ms "
                                                    "+ surge.server.inference.tenant_rejected.b", "at_most": 2}]}))
    assert scenario.load_scenario(write(tmp_path, document)).story.criteria[0].name == "c"


def test_a_variant_replaces_the_limits_and_the_criteria_whole():
    base = scenario.load_scenario("noisy-neighbour")
    bulkheads = scenario.load_scenario("noisy-neighbour", variant="bulkheads")
    assert base.services["inference"].tenant_limits is None
    assert bulkheads.effective_services()["inference"]["tenant_limits"] == {"b": 5}
    assert {c.name for c in bulkheads.story.criteria}.isdisjoint({c.name for c in base.story.criteria})


def test_the_cli_refuses_a_bad_mix_in_one_sentence_with_exit_2(tmp_path):
    path = write(tmp_path, changed(lambda d: d["client"]["classes"][1].update(share=0.6)))
    result = subprocess.run([sys.executable, "-m", "orchestration.cli", "validate", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "client: classes: the shares sum to 1.1" in result.stderr
    assert "Traceback" not in result.stderr
