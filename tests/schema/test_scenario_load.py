"""The load part of the scenario schema: stage rate shapes and the client.

Aspects: a stage with a rate block gets its mean rate filled in (the number every reader of
``arrival_rate_per_second`` uses), and a given mean that disagrees is refused; one block per stage;
times inside a block must fall inside the stage; a trace is read relative to the scenario file,
bad rows are named, and the resolved scenario carries its times; an open-loop client needs a rate
in every stage, a closed-loop one needs users and no rates; a burst needs room for all its
requests in flight; workers default to one.
"""
import pathlib

import pytest

from schema import scenario

HEAD = """name: {name}
services:
  formatter: {{service_time: {{distribution: exponential, mean_seconds: 0.01}}}}
entry: formatter
"""


def load(tmp_path: pathlib.Path, body: str, name: str = "shaped") -> scenario.Scenario:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(name=name) + body)
    return scenario.load_scenario(path)


def refused(tmp_path: pathlib.Path, body: str) -> str:
    with pytest.raises(scenario.ScenarioError) as raised:
        load(tmp_path, body)
    return str(raised.value)


def test_a_ramp_stage_gets_its_mean_rate_filled_in(tmp_path):
    loaded = load(tmp_path, "stages:\n  - {name: up, duration_seconds: 60, ramp: {from_per_second: 10, to_per_second: 70}}\n")
    assert loaded.stages[0].arrival_rate_per_second == pytest.approx(40)
    assert loaded.model_dump(mode="json")["stages"][0]["arrival_rate_per_second"] == pytest.approx(40)
    again = scenario.Scenario.model_validate(loaded.model_dump(mode="json"))  # a resolved scenario validates again
    assert again.stages[0] == loaded.stages[0]


def test_a_given_mean_that_disagrees_with_the_block_is_refused(tmp_path):
    message = refused(tmp_path, "stages:\n  - {name: up, duration_seconds: 60, arrival_rate_per_second: 45, "
                                "ramp: {from_per_second: 10, to_per_second: 70}}\n")
    assert "arrival_rate_per_second 45 is not the mean rate 40 of its ramp; leave arrival_rate_per_second out" in message


def test_two_rate_blocks_in_one_stage_are_refused(tmp_path):
    message = refused(tmp_path, "stages:\n  - {name: mixed, duration_seconds: 60, ramp: {from_per_second: 1, "
                                "to_per_second: 2}, square: {low_per_second: 1, high_per_second: 2, period_seconds: 10}}\n")
    assert "has the rate blocks ramp, square; give one per stage" in message


@pytest.mark.parametrize("block, words", [
    pytest.param("spike: {base_per_second: 5, peak_per_second: 50, at_seconds: 50, length_seconds: 20}",
                 "the spike ends at 70 s, after the stage's 60 s", id="spike"),
    pytest.param("burst: {requests: 10, at_seconds: 60}", "the burst at 60 s is not inside", id="burst"),
    pytest.param("sine: {mean_per_second: 10, amplitude_per_second: 12, period_seconds: 30}",
                 "the rate would go negative", id="sine"),
])
def test_times_and_rates_of_a_block_must_fit_the_stage(tmp_path, block, words):
    assert words in refused(tmp_path, f"stages:\n  - {{name: s, duration_seconds: 60, {block}}}\n")


def test_a_trace_is_read_relative_to_the_scenario_file_and_carried_in_the_resolved_scenario(tmp_path):
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "day.csv").write_text("offset_seconds\n0.5\n0.25\n\n3\n")
    loaded = load(tmp_path, "stages:\n  - {name: replay, duration_seconds: 10, trace: {path: traces/day.csv}}\n")
    assert loaded.stages[0].trace.offsets_seconds == (0.25, 0.5, 3.0)
    assert loaded.stages[0].arrival_rate_per_second == pytest.approx(0.3)
    assert loaded.model_dump(mode="json")["stages"][0]["trace"]["offsets_seconds"] == [0.25, 0.5, 3.0]


@pytest.mark.parametrize("content, words", [
    pytest.param("0.5\nsoon\n", "row 2: 'soon' is not a time in seconds", id="not-a-number"),
    pytest.param("0.5\n-1\n", "row 2: '-1' must be a finite time >= 0", id="negative"),
    pytest.param("12\n", "1 arrival(s) of the trace t.csv fall at or after the stage's 10 s", id="past-the-stage"),
    pytest.param("2\n10\n", "1 arrival(s) of the trace t.csv fall at or after the stage's 10 s", id="at-the-end"),
    pytest.param("1\n10\n10\n12\n", "3 arrival(s) of the trace t.csv fall at or after the stage's 10 s",
                 id="several-late"),
    pytest.param("header\n", "holds no arrival times", id="empty"),
])
def test_a_bad_trace_is_refused_naming_the_file_and_row(tmp_path, content, words):
    (tmp_path / "t.csv").write_text(content)
    assert words in refused(tmp_path, "stages:\n  - {name: replay, duration_seconds: 10, trace: {path: t.csv}}\n")


def test_a_missing_trace_says_the_path_is_relative_to_the_scenario(tmp_path):
    assert "the path is relative to the scenario file" in refused(
        tmp_path, "stages:\n  - {name: replay, duration_seconds: 10, trace: {path: nowhere.csv}}\n")
    with pytest.raises(ValueError) as raised:
        scenario.read_trace(tmp_path / "nowhere.csv")
    assert str(raised.value) == (f"cannot read the trace {tmp_path / 'nowhere.csv'}: No such file or directory; "
                                 "the path is relative to the scenario file")


def test_a_trace_may_start_at_the_stages_first_instant(tmp_path):
    (tmp_path / "t.csv").write_text("0\n0\n4\n")
    loaded = load(tmp_path, "stages:\n  - {name: replay, duration_seconds: 10, trace: {path: t.csv}}\n")
    assert loaded.stages[0].trace.offsets_seconds == (0.0, 0.0, 4.0)


def test_a_trace_holds_at_most_max_trace_arrivals(tmp_path):
    limit = scenario.MAX_TRACE_ARRIVALS
    (tmp_path / "full.csv").write_text("1\n" * limit)
    assert len(scenario.read_trace(tmp_path / "full.csv")) == limit
    (tmp_path / "over.csv").write_text("1\n" * (limit + 1))
    with pytest.raises(ValueError) as raised:
        scenario.read_trace(tmp_path / "over.csv")
    assert str(raised.value) == (f"{tmp_path / 'over.csv'} holds {limit + 1} arrivals, more than {limit}; "
                                 "split it over stages")


def test_a_trace_is_replayed_at_its_recorded_times_not_evenly_spaced(tmp_path):
    (tmp_path / "t.csv").write_text("1\n2\n")
    assert refused(tmp_path, "stages:\n  - {name: replay, duration_seconds: 10, arrivals: constant, "
                             "trace: {path: t.csv}}\n").endswith(
        "stages.0: stage 'replay': a trace is replayed at its recorded times; remove arrivals: constant")


def test_a_spike_may_end_exactly_when_its_stage_ends(tmp_path):
    loaded = load(tmp_path, "stages:\n  - {name: s, duration_seconds: 60, spike: {base_per_second: 5, "
                            "peak_per_second: 50, at_seconds: 40, length_seconds: 20}}\n")
    assert loaded.stages[0].arrival_rate_per_second == pytest.approx((5 * 40 + 50 * 20) / 60)


def test_an_open_loop_stage_without_a_rate_is_refused(tmp_path):
    assert "stage 'idle' gives no rate; an open-loop client needs" in refused(
        tmp_path, "stages:\n  - {name: idle, duration_seconds: 10}\n")


def test_a_closed_loop_client_has_users_and_stages_without_rates(tmp_path):
    loaded = load(tmp_path, "client: {kind: closed, users: 4, think_time_seconds: 0.5}\n"
                            "stages:\n  - {name: steady, duration_seconds: 10}\n")
    assert (loaded.client.kind, loaded.client.users, loaded.stages[0].arrival_rate_per_second) == ("closed", 4, None)
    assert "closed-loop client needs its number of users" in refused(
        tmp_path, "client: {kind: closed}\nstages:\n  - {name: steady, duration_seconds: 10}\n")
    assert "gives a rate, but a closed-loop client's users send as fast as the answers come back" in refused(
        tmp_path, "client: {kind: closed, users: 2}\nstages:\n  - {name: s, duration_seconds: 10, arrival_rate_per_second: 5}\n")


def test_users_on_an_open_loop_client_are_refused(tmp_path):
    assert "only a closed-loop client has users" in refused(
        tmp_path, "client: {users: 3}\nstages:\n  - {name: s, duration_seconds: 10, arrival_rate_per_second: 5}\n")


def test_a_burst_needs_room_for_all_its_requests_in_flight(tmp_path):
    message = refused(tmp_path, "client: {max_in_flight: 50}\n"
                                "stages:\n  - {name: b, duration_seconds: 10, burst: {requests: 80}}\n")
    assert "client.max_in_flight: 50 cannot carry stage 'b'" in message and "at least 81" in message


def test_workers_default_to_one(tmp_path):
    loaded = load(tmp_path, "stages:\n  - {name: s, duration_seconds: 10, arrival_rate_per_second: 5}\n")
    assert loaded.client.workers == 1
