"""``python -m deploy.local.cleanup RUNS_DIR``: stop the processes of runs whose runner died.

A runner that exits normally, or is interrupted, stops everything itself, and its children get
SIGTERM through PDEATHSIG when it dies; this is the last resort after a ``kill -9`` of a whole
process group or a machine crash. Each run's ``pids.json`` names its runner: a run whose runner
still lives is left alone (``make clean`` during a run stops nothing of it); otherwise only the
processes that still match their recorded PID, start time and command line are stopped.
"""
from __future__ import annotations

import pathlib
import sys

from deploy.local import processes


def describe(cleanups: list[processes.Cleanup]) -> list[str]:
    """One line per run that was live or had orphans; runs with nothing left, or run earlier by the
    calling runner itself, say nothing."""
    lines = []
    for cleanup in cleanups:
        if cleanup.live and not cleanup.ours:
            lines.append(f"left alone: {cleanup.run_dir.name} is still running")
        elif cleanup.stopped:
            pids = ", ".join(map(str, cleanup.stopped))
            lines.append(f"stopped {len(cleanup.stopped)} leftover process(es) of {cleanup.run_dir.name} "
                         f"(its runner is gone): {pids}")
    return lines


def main(argv: list[str]) -> int:
    runs_dir = pathlib.Path(argv[0] if argv else "runs")
    cleanups = processes.stop_orphans_under(runs_dir)
    lines = describe(cleanups)
    for line in lines:
        print(line)
    stopped = sum(len(c.stopped) for c in cleanups)
    print(f"stopped {stopped} leftover process(es)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
