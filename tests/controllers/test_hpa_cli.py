"""``python -m controllers.hpa``: the JSON decision interface.

We test these aspects:

- the documented example prints exactly what ``docs/hpa-decide.md`` shows;
- input from stdin and ``--file``; ``replay`` prints one decision per sync;
- bad input exits 2 with one line naming the field, and prints nothing on stdout;
- the decision's history fed back into the next input carries the controller's memory.
"""
from __future__ import annotations

import copy
import io
import json
import pathlib
import re
import subprocess
import sys

import pytest

from controllers.hpa import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "hpa-decide.md"
EXAMPLE = ROOT / "docs" / "examples" / "hpa-state.json"
DOCUMENTED_COMMAND = "python -m controllers.hpa decide --file docs/examples/hpa-state.json"


def run(argv: list[str], stdin_text: str = "") -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdin=io.StringIO(stdin_text), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def documented_output() -> str:
    """The first ```json block after the documented command in the doc."""
    text = DOC.read_text()
    after = text[text.index(DOCUMENTED_COMMAND):]
    match = re.search(r"```json\n(.*?)\n```", after, re.DOTALL)
    assert match is not None, "the doc shows no output after the example command"
    return match.group(1)


def test_documented_example_prints_exactly_what_the_doc_shows() -> None:
    code, stdout, stderr = run(["decide", "--file", str(EXAMPLE)])
    assert (code, stderr) == (0, "")
    assert stdout.rstrip("\n") == documented_output()


def test_module_entry_point_reads_stdin_and_prints_the_decision() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controllers.hpa", "decide"], input=EXAMPLE.read_text(), capture_output=True, text=True,
        cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["desiredReplicas"] == 5


def test_history_fed_back_into_the_next_sync_keeps_the_rate_limit_in_force() -> None:
    first = json.loads(run(["decide"], json.dumps(example()))[1])
    following = example()
    following.update(now="2024-05-01T12:00:15Z", currentReplicas=first["desiredReplicas"], history=first["history"])
    second = json.loads(run(["decide"], json.dumps(following))[1])
    # 2 pods per 60 s: 11:59:40 (+1) and 12:00:00 (+1) are both inside the period, so no more room.
    assert second["desiredReplicas"] == 5
    assert second["conditions"][2]["reason"] == "ScaleUpLimit"


def with_change(path: str, value: object) -> dict:
    """The example with one field replaced (``None`` deletes it); path like ``spec.metrics[0].type``."""
    document = copy.deepcopy(example())
    *parents, last = re.findall(r"[^.\[\]]+", path)
    target = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is None:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return document


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param(with_change("now", None), "error: now: is required", id="missing-now"),
        pytest.param(with_change("now", "yesterday"), "error: now: must be an RFC3339 time", id="bad-time"),
        pytest.param(with_change("currentReplicas", -1), "error: currentReplicas: must be at least 0, got -1", id="negative-replicas"),
        pytest.param(with_change("currentReplicas", "3"), "error: currentReplicas: must be an integer, got '3'", id="string-replicas"),
        pytest.param(with_change("spec.maxReplicas", 0), "error: spec.maxReplicas: must be a positive integer, got 0", id="max-zero"),
        pytest.param(with_change("spec.minReplicas", 11), "error: spec.minReplicas: must be less than or equal to maxReplicas (10)",
                     id="min-above-max"),
        pytest.param(with_change("spec.minReplicas", 0), "error: spec.minReplicas: 0 is only allowed with at least one Object or External metric",
                     id="min-zero-without-object-or-external"),
        pytest.param(with_change("spec.metrics[0].type", "Cheddar"), "error: spec.metrics[0].type: must be one of", id="unknown-metric-type"),
        pytest.param(with_change("spec.metrics[0].resource.target.averageUtilization", 0),
                     "error: spec.metrics[0].resource.target.averageUtilization: must be a positive integer, got 0", id="zero-target"),
        pytest.param(with_change("spec.metrics[0].resource.target.type", "Value"),
                     "error: spec.metrics[0].resource.target.type: must be one of Utilization, AverageValue", id="value-target-on-resource"),
        pytest.param(with_change("spec.metrics[1].pods.target.averageValue", "lots"),
                     "error: spec.metrics[1].pods.target.averageValue: 'lots' is not a quantity", id="bad-quantity"),
        pytest.param(with_change("spec.behavior.scaleUp.policies[0].periodSeconds", 1801),
                     "error: spec.behavior.scaleUp.policies[0].periodSeconds: must be at most 1800", id="period-too-long"),
        pytest.param(with_change("spec.behavior.scaleUp.policies", []),
                     "error: spec.behavior.scaleUp.policies: must specify at least one Policy", id="no-policies"),
        pytest.param(with_change("spec.behavior.scaleDown.stabilizationWindowSeconds", 3601),
                     "error: spec.behavior.scaleDown.stabilizationWindowSeconds: must be at most 3600", id="window-too-long"),
        pytest.param(with_change("spec.behavior.scaleUp.selectPolicy", "Biggest"),
                     "error: spec.behavior.scaleUp.selectPolicy: must be one of Max, Min, Disabled", id="bad-select-policy"),
        pytest.param(with_change("pods[1].name", "inference-0"), "error: pods[1].name: duplicate name 'inference-0'", id="duplicate-pod"),
        pytest.param(with_change("pods[0].phase", "Sleeping"), "error: pods[0].phase: must be one of", id="bad-phase"),
        pytest.param(with_change("pods[0].metrics.window", "soon"), "error: pods[0].metrics.window: must be seconds or a duration",
                     id="bad-window"),
        pytest.param(with_change("pods[0].readyz", True), "error: pods[0].readyz: unknown field", id="unknown-field"),
        pytest.param(with_change("history.scaleUpEvents[0].outdated", "no"), "error: history.scaleUpEvents[0].outdated: must be true or false",
                     id="bad-flag"),
        pytest.param(with_change("controller.tolerance", -0.1), "error: controller.tolerance: must be at least 0", id="negative-tolerance"),
        pytest.param([], "error: input: must be an object, got an array", id="not-an-object"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(document: object, expected: str) -> None:
    code, stdout, stderr = run(["decide"], json.dumps(document))
    assert (code, stdout) == (2, "")
    assert stderr.startswith(expected)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


@pytest.mark.parametrize(
    "argv, stdin_text, expected",
    [
        pytest.param(["decide"], "{not json", "error: stdin is not valid JSON: Expecting property name", id="not-json"),
        pytest.param(["decide", "--file", "/nonexistent/state.json"], "", "error: cannot read /nonexistent/state.json", id="missing-file"),
    ],
)
def test_unreadable_input_exits_2_without_a_traceback(argv: list[str], stdin_text: str, expected: str) -> None:
    code, stdout, stderr = run(argv, stdin_text)
    assert (code, stdout) == (2, "")
    assert stderr.startswith(expected)


def test_metric_without_values_is_reported_as_a_failed_metric_not_as_bad_input() -> None:
    document = example()
    del document["podsMetrics"]
    code, stdout, _ = run(["decide"], json.dumps(document))
    decision = json.loads(stdout)
    assert code == 0
    assert decision["metrics"][1]["reason"] == "FailedGetPodsMetric"
    assert decision["error"].startswith("invalid metrics (1 invalid out of 2)")
    assert decision["desiredReplicas"] == 5  # the cpu metric alone still scales up


def test_replay_prints_one_decision_per_sync_with_time_stepped_by_the_sync_period() -> None:
    start = example()
    syncs = [{}, {"podsMetrics": {"http_requests_in_flight": {"timestamp": "2024-05-01T12:00:10Z", "values": {"inference-0": "1"}}}}]
    code, stdout, stderr = run(["replay"], json.dumps({"start": start, "syncs": syncs}))
    decisions = json.loads(stdout)
    assert (code, stderr, len(decisions)) == (0, "", 2)
    assert [d["currentReplicas"] for d in decisions] == [4, 5]
    assert decisions[1]["history"]["recommendations"][-1]["timestamp"] == "2024-05-01T12:00:15Z"


def test_replay_rejects_a_bad_sync_with_its_index() -> None:
    code, _, stderr = run(["replay"], json.dumps({"start": example(), "syncs": [{"currentReplicas": -2}]}))
    assert code == 2
    assert stderr.startswith("error: syncs[0].currentReplicas: must be at least 0")
