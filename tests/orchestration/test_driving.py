"""How the runner starts and follows Locust (no Locust started here).

Aspects: more workers than cores is refused in one sentence naming the field and the bound; a
master gets the port it was given on loopback, for both its bind and its workers, and a master
without a port is refused; the progress line reads the new rows of every process's log, leaving a
half-written last line for next time; the scenario.json of a run carries each stage's expected
arrivals.
"""
import pytest

from orchestration import runner
from schema import scenario as scenario_module


def test_more_workers_than_cores_is_refused_in_one_sentence():
    with pytest.raises(runner.RunError, match=r"client.workers is 3 but this machine has 2 core\(s\).*at most 2$"):
        runner.check_workers(3, cores=2)
    assert runner.check_workers(2, cores=2) == 2


def test_a_master_binds_and_is_reached_on_its_allocated_loopback_port(tmp_path):
    argv = runner.locust_argv("http://127.0.0.1:1", tmp_path, safety_seconds=30, workers=3, master_port=40123)
    flags = dict(zip(argv, argv[1:]))
    assert (flags["--processes"], flags["--master-bind-host"], flags["--master-bind-port"], flags["--master-host"],
            flags["--master-port"]) == ("3", "127.0.0.1", "40123", "127.0.0.1", "40123")
    assert "--processes" not in runner.locust_argv("http://127.0.0.1:1", tmp_path, safety_seconds=30)
    with pytest.raises(ValueError, match="master_port"):
        runner.locust_argv("http://127.0.0.1:1", tmp_path, safety_seconds=30, workers=2)
    assert runner.locust_env(tmp_path / "s.json", tmp_path, workers=3)["TAILSTORM_DISPATCHERS"] == "3"


def test_progress_reads_the_new_rows_of_every_processs_log(tmp_path):
    header = "intended_start,actual_start,latency_seconds,status,attempt,phase,outcome,request\n"
    (tmp_path / "requests.csv").write_text(header + "1,1,0.01,200,0,p,ok,1\n1.1,1.1,0.02,200,0,p,ok,2\n1.2,1.2")
    (tmp_path / "requests-1.csv").write_text(header + "1,1,0.03,503,0,p,http_503,1\n")
    lines = []
    progress = runner.Progress(tmp_path, write=lines.append)
    assert sorted(r["latency_seconds"] for r in progress.new_rows()) == ["0.01", "0.02", "0.03"]
    with open(tmp_path / "requests.csv", "a") as log:
        log.write(",0.04,200,0,p,ok,3\n")
    assert [r["latency_seconds"] for r in progress.new_rows()] == ["0.04"]
    assert progress.new_rows() == []


def test_a_runs_scenario_carries_each_stages_expected_arrivals():
    loaded = scenario_module.Scenario.model_validate({
        "name": "x", "entry": "formatter", "services": {"formatter": {}},
        "stages": [{"name": "a", "duration_seconds": 10, "arrival_rate_per_second": 4},
                   {"name": "b", "duration_seconds": 10, "burst": {"requests": 7, "at_seconds": 3}}]})
    steady, burst = loaded.expected_arrivals()
    assert steady == [[0.0, 0.0], [10.0, 40.0]]
    assert burst == [[0.0, 0.0], [3.0, 0.0], [3.0, 7.0], [10.0, 7.0]]
