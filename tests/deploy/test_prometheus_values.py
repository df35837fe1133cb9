"""The values the Prometheus renderer configures (``test_rendering.py`` has promtool accept them).

Aspects: one-second scrape, scrape timeout and rule evaluation; the rules file; the app job keeps
the app's own labels; the Envoy job scrapes ``/stats/prometheus``; both read file_sd files
refreshed every 5 s; a targets file holds one group per target with its labels. The cluster's config:
the same jobs with pod discovery in the namespace, kept by component label and port name, Pending
or finished pods dropped, and the labels file_sd gives (service and replica, or proxy), plus
namespace and pod.
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


def _relabelling(component: str, port_name: str, name_label: str, *, replica: bool) -> list[dict]:
    meta = "__meta_kubernetes_pod_"
    rules = [
        {"source_labels": [meta + "label_app_kubernetes_io_component"], "regex": component, "action": "keep"},
        {"source_labels": [meta + "container_port_name"], "regex": port_name, "action": "keep"},
        {"source_labels": [meta + "phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
        {"source_labels": [meta + "label_app_kubernetes_io_name"], "target_label": name_label},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": [meta + "name"], "target_label": "pod"},
    ]
    return rules + ([{"source_labels": [meta + "name"], "target_label": "replica"}] if replica else [])


def test_the_kubernetes_config_finds_pods_by_component_and_port_and_labels_them_as_file_sd_does(tmp_path) -> None:
    rules = tmp_path / "rules.yml"
    pods = [{"role": "pod", "namespaces": {"names": ["tailstorm"]}}]
    assert render.render_kubernetes_config(namespace="tailstorm", rules_path=rules) == {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "tailstorm-app",
                "honor_labels": True,
                "kubernetes_sd_configs": pods,
                "relabel_configs": _relabelling("app", "http", "service", replica=True),
            },
            {
                "job_name": "tailstorm-envoy",
                "metrics_path": "/stats/prometheus",
                "kubernetes_sd_configs": pods,
                "relabel_configs": _relabelling("envoy", "stats", "proxy", replica=False),
            },
        ],
    }
