"""Test-suite switches shared by every folder.

- Cluster tests (``tests/e2e/``) need a Kubernetes cluster: auto-marked ``e2e`` and skipped
  unless ``--with-e2e`` is given, so ``make test`` stays hermetic (kopf's conftest does the same).
- Fidelity runs (long real-stack experiments checked against theory) are marked ``fidelity`` and
  run only with ``--run-fidelity`` or ``TAILSTORM_FIDELITY=1`` (``make fidelity``).
"""
from __future__ import annotations

import os
import pathlib

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--with-e2e", action="store_true", help="run cluster tests (need kubectl access)")
    parser.addoption("--run-fidelity", action="store_true", help="run long fidelity experiments")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fidelity: long real-stack experiment checked against theory")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e_dir = pathlib.Path(__file__).parent / "e2e"
    run_fidelity = config.getoption("--run-fidelity") or os.environ.get("TAILSTORM_FIDELITY") == "1"
    for item in items:
        if e2e_dir in pathlib.Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
            if not config.getoption("--with-e2e"):
                item.add_marker(pytest.mark.skip(reason="cluster test: pass --with-e2e"))
        if item.get_closest_marker("fidelity") and not run_fidelity:
            item.add_marker(pytest.mark.skip(reason="fidelity run: pass --run-fidelity or use `make fidelity`"))
