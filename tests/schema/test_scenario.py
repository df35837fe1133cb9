"""Scenario schema and loader.

Aspects: every catalog scenario loads, states its question and what it teaches, has pass criteria
(each variant too) and a schedule that fits a ten-minute run; unknown keys and bad values are refused with the file, the
dotted field and what is allowed; the call graph must be closed, acyclic and free of self-calls; a
window that leaves nothing of a stage is refused; so is a client whose max_in_flight cannot carry a
stage's rate even through an idle chain; the CLI exits 2 on a bad file and 0 on a good one, with
no traceback.
"""
import importlib
import pathlib
import subprocess
import sys

import pytest

from schema import scenario

CATALOG = sorted(scenario.SCENARIO_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_catalog_scenario_loads(path):
    loaded = scenario.load_scenario(path)
    assert loaded.name == path.stem
    assert loaded.duration_seconds > 0


MAX_RUN_SECONDS = 10 * 60
"""A catalog run (each variant too) fits in ten minutes of wall clock on a laptop."""
SETUP_AND_DRAIN_SECONDS = 90
"""Start-up, the drain after the load and the report: about a minute and a half here, on 2 cores."""


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_catalog_scenario_states_its_purpose_and_decides_it_in_under_ten_minutes(path):
    base = scenario.load_scenario(path)
    for loaded in [base] + [scenario.load_scenario(path, variant=v) for v in base.variants]:
        assert loaded.description and loaded.story and loaded.story.question and loaded.story.teaches
        assert loaded.story.criteria, f"{loaded.name} {loaded.variant or ''}: no pass criterion decides its point"
        assert loaded.duration_seconds + SETUP_AND_DRAIN_SECONDS <= MAX_RUN_SECONDS


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


MINIMAL = """name: {name}
services:
  formatter: {{}}
entry: formatter
stages:
  - {{name: steady, duration_seconds: 10, arrival_rate_per_second: 2}}
"""


def test_a_minimal_scenario_takes_the_defaults(tmp_path):
    loaded = scenario.load_scenario(write(tmp_path, "tiny", MINIMAL.format(name="tiny")))
    assert loaded.envoy.circuit_breaker.max_requests == 1024
    assert loaded.client.kind == "open"


def test_an_unknown_key_is_refused_naming_file_field_and_allowed_keys(tmp_path):
    text = MINIMAL.format(name="typo").replace("arrival_rate_per_second: 2", "arrival_rate_per_second: 2, rate: 3")
    path = write(tmp_path, "typo", text)
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(path)
    message = str(raised.value)
    assert str(path) in message
    assert "stages.0.rate: unknown key" in message
    assert "arrival_rate_per_second, arrivals, burst, duration_seconds, name, ramp, sine, spike, square, trace" in message


def test_a_bad_value_is_refused_with_the_field_and_the_rule(tmp_path):
    text = MINIMAL.format(name="bad").replace("formatter: {}", "formatter: {servers: 0}")
    with pytest.raises(scenario.ScenarioError, match=r"services\.formatter\.servers: Input should be greater than or equal to 1"):
        scenario.load_scenario(write(tmp_path, "bad", text))


def test_a_call_to_a_service_not_in_the_topology_is_refused(tmp_path):
    text = MINIMAL.format(name="open").replace("formatter: {}", "formatter: {calls: [{service: auth}]}")
    with pytest.raises(scenario.ScenarioError, match="'auth' is not under services"):
        scenario.load_scenario(write(tmp_path, "open", text))


CHAIN = """name: {name}
entry: gateway
services:
  gateway: {{calls: [{{service: auth}}]}}
  auth: {{calls: [{{service: {back}}}]}}
  formatter: {{}}
stages:
  - {{name: steady, duration_seconds: 10, arrival_rate_per_second: 5}}
"""


def test_a_call_cycle_is_refused_naming_the_cycle(tmp_path):
    with pytest.raises(scenario.ScenarioError) as raised:
        scenario.load_scenario(write(tmp_path, "loop", CHAIN.format(name="loop", back="gateway")))
    assert str(raised.value).endswith("services: the calls form a cycle gateway → auth → gateway; each request would "
                                      "go round until it timed out, so remove one of these calls")


def test_a_self_call_is_refused(tmp_path):
    text = MINIMAL.format(name="selfie").replace("formatter: {}", "formatter: {calls: [{service: formatter}]}")
    with pytest.raises(scenario.ScenarioError, match="services.formatter.calls: formatter calls itself"):
        scenario.load_scenario(write(tmp_path, "selfie", text))


def test_an_acyclic_chain_with_a_shared_callee_is_accepted(tmp_path):
    text = CHAIN.format(name="diamond", back="formatter").replace(
        "gateway: {calls: [{service: auth}]}", "gateway: {calls: [{service: auth}, {service: formatter}]}")
    assert scenario.load_scenario(write(tmp_path, "diamond", text)).entry == "gateway"


def test_a_window_that_leaves_nothing_to_measure_is_refused(tmp_path):
    text = MINIMAL.format(name="short").replace("duration_seconds: 10", "duration_seconds: 6")
    with pytest.raises(scenario.ScenarioError, match=r"window: warmup_seconds \+ cooldown_seconds \(7 s\) leave "
                                                     r"nothing of stage 'steady' \(6 s\) to measure"):
        scenario.load_scenario(write(tmp_path, "short", text))


def test_a_client_that_cannot_carry_the_rate_is_refused_with_the_bound(tmp_path):
    # 400 req/s through 0.5 s of service time: 200 requests in flight on average, 257 with the margin
    text = MINIMAL.format(name="tight").replace("formatter: {}", "formatter: {service_time: {mean_seconds: 0.5}}")
    text = text.replace("arrival_rate_per_second: 2", "arrival_rate_per_second: 400") + "client: {max_in_flight: 100}\n"
    with pytest.raises(scenario.ScenarioError, match="client.max_in_flight: 100 cannot carry stage 'steady' at 400 "
                                                     "req/s: even with no queueing a request takes at least 500 ms"
                                                     ".*raise max_in_flight to at least 257"):
        scenario.load_scenario(write(tmp_path, "tight", text))
    assert scenario.in_flight_needed(400, 0.5) == 257
    assert scenario.load_scenario(write(tmp_path, "tight", text.replace("max_in_flight: 100", "max_in_flight: 257")))


def test_effective_services_are_the_services_own_defaults_under_the_scenarios_settings():
    loaded = scenario.load_scenario("chaos-spike")
    effective = loaded.effective_services()
    featurestore = importlib.import_module("services.featurestore.app").DEFAULTS
    assert effective["featurestore"]["shards"] == featurestore["shards"] == 4  # the scenario sets shards too
    assert effective["inference"]["servers"] == 2 and effective["inference"]["queue_limit"] == 32  # from the scenario
    gateway = importlib.import_module("services.gateway.app").DEFAULTS
    assert effective["gateway"]["queue_limit"] == gateway["queue_limit"]  # the scenario leaves it to the service
    assert set(effective) == set(loaded.services)


def test_the_name_must_match_the_file(tmp_path):
    with pytest.raises(scenario.ScenarioError, match="must equal the file name"):
        scenario.load_scenario(write(tmp_path, "other", MINIMAL.format(name="tiny")))


def test_an_unknown_catalog_name_lists_the_catalog():
    with pytest.raises(scenario.ScenarioError, match="chaos-spike"):
        scenario.load_scenario("no-such-scenario")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], capture_output=True, text=True, timeout=60)


def test_the_cli_exits_2_on_a_bad_scenario_without_a_traceback(tmp_path):
    path = write(tmp_path, "typo", MINIMAL.format(name="typo").replace("seed", "sed").replace("services:", "sed: 1\nservices:"))
    for command in ("validate", "run"):
        result = run_cli(command, str(path))
        assert result.returncode == 2, result.stderr
        assert "sed: unknown key" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_cli_validates_a_good_scenario():
    result = run_cli("validate", "chaos-spike")
    assert result.returncode == 0
    assert "chaos-spike: valid" in result.stdout


def test_the_catalog_listing_names_every_scenario_and_each_variant_under_it():
    lines = run_cli("scenarios").stdout.splitlines()
    names = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert names == [path.stem for path in CATALOG]
    storm = lines.index(next(line for line in lines if line.startswith("retry-storm ")))
    assert [line.split()[1] for line in lines[storm + 1:storm + 4]] == ["budget", "adaptive", "deadlines"]


STORY = """
story:
  question: Does the spike overflow inference?
  teaches: The breaker sheds what the queue cannot hold.
  criteria:
    - {name: overflow, says: "{value:.0f} overflow 503s", measure: "%s", at_least: 1}
"""


def test_a_story_criterion_is_parsed_and_reads_known_stages(tmp_path):
    good = MINIMAL.format(name="storied") + STORY % "steady.client.requests * 2"
    loaded = scenario.load_scenario(write(tmp_path, "storied", good))
    assert loaded.story.criteria[0].at_least == 1
    unknown = MINIMAL.format(name="lost") + STORY % "spike.client.requests"
    with pytest.raises(scenario.ScenarioError, match="story.criteria.overflow.measure: 'spike.client.requests' starts "
                                                     "with 'spike', which is no stage; start with one of checks, hpa, steady"):
        scenario.load_scenario(write(tmp_path, "lost", unknown))
    broken = MINIMAL.format(name="broken") + STORY % "steady.client.requests >"
    with pytest.raises(scenario.ScenarioError, match="measure: cannot read '>'"):
        scenario.load_scenario(write(tmp_path, "broken", broken))
    unbounded = (MINIMAL.format(name="free") + STORY % "steady.client.requests").replace(", at_least: 1", "")
    with pytest.raises(scenario.ScenarioError, match="give at_least, at_most or both"):
        scenario.load_scenario(write(tmp_path, "free", unbounded))


VARIANTS = """
variants:
  round-robin:
    description: the proxy ignores how busy a replica is
    set:
      services.formatter.envoy.lb_policy: round_robin
      client.timeout_seconds: 9
"""


def test_a_variant_is_the_scenario_with_its_settings_applied(tmp_path):
    path = write(tmp_path, "lb", MINIMAL.format(name="lb") + VARIANTS)
    base = scenario.load_scenario(path)
    assert base.variant is None and base.envoy_for("formatter").lb_policy == "least_request"
    varied = scenario.load_scenario(path, variant="round-robin")
    assert varied.variant == "round-robin" and varied.envoy_for("formatter").lb_policy == "round_robin"
    assert varied.client.timeout_seconds == 9 and varied.name == "lb"
    with pytest.raises(scenario.ScenarioError, match="no variant 'least'; its variants: round-robin"):
        scenario.load_scenario(path, variant="least")


def test_a_broken_variant_is_found_when_the_base_is_loaded(tmp_path):
    text = MINIMAL.format(name="lbx") + VARIANTS.replace("round_robin", "fastest")
    with pytest.raises(scenario.ScenarioError, match=r"variant round-robin: invalid scenario:\n"
                                                     r"  services.formatter.envoy.lb_policy: Input should be"):
        scenario.load_scenario(write(tmp_path, "lbx", text))
    through_a_value = MINIMAL.format(name="lby") + VARIANTS.replace("client.timeout_seconds", "name.value")
    with pytest.raises(scenario.ScenarioError, match="'name.value' goes through 'name', which is no block"):
        scenario.load_scenario(write(tmp_path, "lby", through_a_value))
