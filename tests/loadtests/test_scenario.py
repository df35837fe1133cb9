"""Scenario schema and loader.

Aspects: every catalog scenario loads; unknown keys and bad values are refused with the file, the
dotted field and what is allowed; the call graph must be closed; the CLI exits 2 on a bad file and
0 on a good one, with no traceback.
"""
import pathlib
import subprocess
import sys

import pytest

from loadtests import scenario

CATALOG = sorted(scenario.SCENARIO_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_catalog_scenario_loads(path):
    loaded = scenario.load_scenario(path)
    assert loaded.name == path.stem
    assert loaded.duration_seconds > 0


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


MINIMAL = """name: {name}
services:
  formatter: {{}}
entry: formatter
stages:
  - {{name: steady, duration_seconds: 5, arrival_rate_per_second: 2}}
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
    assert "arrival_rate_per_second, duration_seconds, name" in message


def test_a_bad_value_is_refused_with_the_field_and_the_rule(tmp_path):
    text = MINIMAL.format(name="bad").replace("formatter: {}", "formatter: {servers: 0}")
    with pytest.raises(scenario.ScenarioError, match=r"services\.formatter\.servers: Input should be greater than or equal to 1"):
        scenario.load_scenario(write(tmp_path, "bad", text))


def test_a_call_to_a_service_not_in_the_topology_is_refused(tmp_path):
    text = MINIMAL.format(name="open").replace("formatter: {}", "formatter: {calls: [{service: auth}]}")
    with pytest.raises(scenario.ScenarioError, match="'auth' is not under services"):
        scenario.load_scenario(write(tmp_path, "open", text))


def test_the_name_must_match_the_file(tmp_path):
    with pytest.raises(scenario.ScenarioError, match="must equal the file name"):
        scenario.load_scenario(write(tmp_path, "other", MINIMAL.format(name="tiny")))


def test_an_unknown_catalog_name_lists_the_catalog():
    with pytest.raises(scenario.ScenarioError, match="chaos-spike"):
        scenario.load_scenario("no-such-scenario")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "loadtests.cli", *args], capture_output=True, text=True, timeout=60)


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
