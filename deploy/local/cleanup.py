"""``python -m deploy.local.cleanup RUNS_DIR``: stop processes a killed runner left behind.

A runner that exits normally, or is interrupted, stops everything itself, and its children die
with it through PDEATHSIG; this is the last resort after a ``kill -9`` of a process group or a
machine crash. It reads each run's ``pids.json`` and kills only PIDs that still run the recorded
command.
"""
from __future__ import annotations

import pathlib
import sys

from deploy.local import processes


def main(argv: list[str]) -> int:
    runs_dir = pathlib.Path(argv[0] if argv else "runs")
    killed = [pid for path in sorted(runs_dir.glob("*/pids.json")) for pid in processes.kill_recorded(path)]
    print(f"stopped {len(killed)} leftover process(es)" + (f": {killed}" if killed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
