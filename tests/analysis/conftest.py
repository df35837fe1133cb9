"""Fixtures of the analysis tests: a recorded run directory, copied so a test may write into it.

``tests/analysis/data/smoke-run/`` is a real ``tailstorm run smoke`` directory, trimmed to what
the analysis reads (scenario.json, events.jsonl, environment.json, locust/requests.csv and the
Prometheus range dumps); backend configs, logs, the TSDB and the old report were dropped.
"""
from __future__ import annotations

import pathlib
import shutil

import pytest

DATA = pathlib.Path(__file__).parent / "data"
SMOKE_RUN = DATA / "smoke-run"


@pytest.fixture
def smoke_run(tmp_path: pathlib.Path) -> pathlib.Path:
    """A writable copy of the recorded smoke run, inside ``<tmp>/runs/`` like a real one."""
    target = tmp_path / "runs" / "20261123T161623Z-smoke"
    shutil.copytree(SMOKE_RUN, target)
    return target
