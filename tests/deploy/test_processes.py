"""Processes of a run: identities, and the cleanup of orphans a dead runner left.

Aspects: ``pids.json`` names the runner and each child with PID, start time and full command line;
a run whose runner lives is left alone by the cleanup; the orphans of a runner that was SIGKILLed
(children that survived its death) are stopped, and the cleanup says so; a recorded PID that now
runs another process (PID reuse) is never signalled; ``make clean``'s module prints one line per run.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from deploy.local import cleanup, processes

def stubborn(ready: pathlib.Path) -> list[str]:
    """A child that survives its parent's death: it ignores the SIGTERM that PDEATHSIG sends (and
    says so by creating ``ready`` once it does)."""
    return [sys.executable, "-c", "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "pathlib.Path(sys.argv[1]).touch(); time.sleep(120)", str(ready)]


def wait_for(predicate, what):
    processes.wait_until(predicate, timeout_seconds=20, what=what)


def test_pids_json_names_the_runner_and_each_child_by_identity(tmp_path):
    table = processes.ProcessTable(tmp_path / "pids.json")
    child = table.start(name="sleeper", argv=["sleep", "30"], log_path=tmp_path / "sleeper.log")
    try:
        record = json.loads((tmp_path / "pids.json").read_text())
        assert record["runner"]["pid"] == os.getpid()
        assert record["runner"]["cmdline"] == psutil.Process().cmdline()
        entry = record["processes"]["sleeper"]
        assert entry["pid"] == child.pid and entry["cmdline"] == ["sleep", "30"]
        assert entry["create_time"] == pytest.approx(psutil.Process(child.pid).create_time(), abs=0.05)
        wait_for(lambda: processes.Identity.from_dict(entry).is_alive(), "the child's exec")
    finally:
        child.stop(grace_seconds=1)


def recorded_as_runner(pids_path: pathlib.Path, pid: int) -> None:
    """Make another live process the run's runner in its pids.json (as a second runner's run would be)."""
    record = json.loads(pids_path.read_text())
    process = psutil.Process(pid)
    record["runner"] = {"pid": pid, "create_time": process.create_time(), "cmdline": process.cmdline()}
    pids_path.write_text(json.dumps(record))


def test_a_run_whose_runner_lives_is_left_alone(tmp_path):
    other_runner = subprocess.Popen(["sleep", "30"])
    table = processes.ProcessTable(tmp_path / "pids.json")
    child = table.start(name="replica", argv=["sleep", "30"], log_path=tmp_path / "replica.log")
    try:
        wait_for(lambda: psutil.Process(other_runner.pid).cmdline() == ["sleep", "30"], "the runner's exec")
        recorded_as_runner(tmp_path / "pids.json", other_runner.pid)
        result = processes.stop_orphans(tmp_path / "pids.json")
        assert result.live and not result.ours and result.stopped == ()
        assert child.is_running()
        assert cleanup.describe([result]) == [f"left alone: {tmp_path.name} is still running"]
    finally:
        child.stop(grace_seconds=1)
        other_runner.kill()
        other_runner.wait()


def test_an_earlier_run_of_the_calling_runner_is_untouched_and_not_called_running(tmp_path):
    table = processes.ProcessTable(tmp_path / "pids.json")  # the runner is this test process
    child = table.start(name="replica", argv=["sleep", "30"], log_path=tmp_path / "replica.log")
    try:
        result = processes.stop_orphans(tmp_path / "pids.json")
        assert result.live and result.ours and result.stopped == ()
        assert child.is_running()
        assert cleanup.describe([result]) == []
    finally:
        child.stop(grace_seconds=1)


def test_the_orphans_of_a_killed_runner_are_stopped(tmp_path):
    runner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import pathlib, sys, time
        from deploy.local import processes
        table = processes.ProcessTable(pathlib.Path({str(tmp_path)!r}) / "pids.json")
        table.start(name="stubborn", argv={stubborn(tmp_path / "ignoring")!r}, log_path=pathlib.Path({str(tmp_path)!r}) / "s.log")
        print("started", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    assert runner.stdout.readline().strip() == "started"
    wait_for(lambda: (tmp_path / "ignoring").exists(), "the child to ignore SIGTERM")
    (orphan_pid,) = [e["pid"] for e in json.loads((tmp_path / "pids.json").read_text())["processes"].values()]
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    assert psutil.pid_exists(orphan_pid), "the stubborn child should have outlived its runner"
    result = processes.stop_orphans(tmp_path / "pids.json", grace_seconds=0.5)
    assert not result.live and result.stopped == (orphan_pid,)
    wait_for(lambda: not psutil.pid_exists(orphan_pid) or psutil.Process(orphan_pid).status() == psutil.STATUS_ZOMBIE,
             "the orphan to die")
    assert cleanup.describe([result])[0].startswith(f"stopped 1 leftover process(es) of {tmp_path.name} "
                                                    "(its runner is gone)")


def test_a_reused_pid_is_never_signalled(tmp_path):
    me = psutil.Process()
    impostor = {"pid": me.pid, "create_time": me.create_time() - 1000, "cmdline": me.cmdline()}  # an older process
    (tmp_path / "pids.json").write_text(json.dumps({"runner": {"pid": 2**22 + 3, "create_time": 0, "cmdline": ["x"]},
                                                    "processes": {"replica": impostor}}))
    result = processes.stop_orphans(tmp_path / "pids.json")
    assert result.stopped == ()  # and this test process is still here to assert it


def test_the_cleanup_command_reports_each_run(tmp_path, capsys):
    (tmp_path / "old-run").mkdir()
    (tmp_path / "old-run" / "pids.json").write_text(json.dumps({"runner": None, "processes": {}}))
    assert cleanup.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == "stopped 0 leftover process(es)\n"
