"""Test-suite switches shared by every folder.

- Fidelity runs (long real-stack experiments checked against theory) are marked ``fidelity`` and
  run only with ``--run-fidelity`` or ``TAILSTORM_FIDELITY=1`` (``make fidelity``).
"""
from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-fidelity", action="store_true", help="run long fidelity experiments")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fidelity: long real-stack experiment checked against theory")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_fidelity = config.getoption("--run-fidelity") or os.environ.get("TAILSTORM_FIDELITY") == "1"
    for item in items:
        if item.get_closest_marker("fidelity") and not run_fidelity:
            item.add_marker(pytest.mark.skip(reason="fidelity run: pass --run-fidelity or use `make fidelity`"))
