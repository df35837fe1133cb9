"""The values the Prometheus renderer configures (``test_rendering.py`` has promtool accept them).

Aspects: one-second scrape, scrape timeout and rule evaluation; the rules file; the app job keeps
the app's own labels; the Envoy job scrapes ``/stats/prometheus``; both read file_sd files
refreshed every 5 s; a targets file holds one group per target with its labels.
"""
from __future__ import annotations

import json
import pathlib

from deploy.prometheus import render


def test_config_scrapes_apps_and_envoys_every_second_from_file_sd_with_the_rules_file(tmp_path) -> None:
    rules = tmp_path / "rules.yml"
    assert render.render_config(file_sd_dir=tmp_path / "sd", rules_path=rules) == {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "tailstorm-app",
                "honor_labels": True,
                "file_sd_configs": [{"files": [str(tmp_path / "sd" / "apps.json")], "refresh_interval": "5s"}],
            },
            {
                "job_name": "tailstorm-envoy",
                "metrics_path": "/stats/prometheus",
                "file_sd_configs": [{"files": [str(tmp_path / "sd" / "envoys.json")], "refresh_interval": "5s"}],
            },
        ],
    }


def test_config_loads_the_shipped_recording_rules_by_default(tmp_path) -> None:
    config = render.render_config(file_sd_dir=tmp_path)
    assert config["rule_files"] == [str(pathlib.Path(render.__file__).parent / "rules.yml")]
    assert pathlib.Path(config["rule_files"][0]).is_file()


def test_targets_file_holds_one_group_per_target_with_its_labels(tmp_path) -> None:
    path = tmp_path / "envoys.json"
    render.write_targets(path, [("127.0.0.1:9901", {"service": "auth", "replica": "0"}),
                                ("127.0.0.1:9902", {"service": "inference", "replica": "1"})])
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9901"], "labels": {"service": "auth", "replica": "0"}},
        {"targets": ["127.0.0.1:9902"], "labels": {"service": "inference", "replica": "1"}},
    ]
