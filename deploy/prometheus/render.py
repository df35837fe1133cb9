"""Prometheus configuration shared by both backends: scrape jobs and recording rules.

Locally, targets come from file_sd JSON files that the backend replaces atomically (Prometheus
watches them); every replica's ``/metrics`` and every Envoy's ``/stats/prometheus`` is scraped
each second, so a spike of a few seconds is visible.
"""
from __future__ import annotations

import json
import pathlib

from deploy.envoy import render as envoy_render

APP_JOB = "tailstorm-app"
ENVOY_JOB = "tailstorm-envoy"
RULES_PATH = pathlib.Path(__file__).parent / "rules.yml"
SCRAPE_INTERVAL_SECONDS = 1
LOOKBACK_SECONDS = 3
"""``--query.lookback-delta`` of a run's own Prometheus: how long a sample stands for the moments
after it. Three scrape intervals ride out scrape jitter; Prometheus' default of 5 min would fill a
gap (a dead target, or Prometheus itself down) with the last value seen before it."""


def render_config(*, file_sd_dir: pathlib.Path, rules_path: pathlib.Path = RULES_PATH) -> dict:
    interval = f"{SCRAPE_INTERVAL_SECONDS}s"
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_path)],
        "scrape_configs": [
            {
                "job_name": APP_JOB,
                # the app's own `service` label equals the target's; keep it rather than renaming
                "honor_labels": True,
                "file_sd_configs": [{"files": [str(file_sd_dir / "apps.json")], "refresh_interval": "5s"}],
            },
            {
                "job_name": ENVOY_JOB,
                "metrics_path": "/stats/prometheus",
                "file_sd_configs": [{"files": [str(file_sd_dir / "envoys.json")], "refresh_interval": "5s"}],
            },
        ],
    }


def write_targets(path: pathlib.Path, groups: list[tuple[str, dict[str, str]]]) -> None:
    """Replace a file_sd file atomically; ``groups`` are (host:port, labels) pairs."""
    document = [{"targets": [target], "labels": labels} for target, labels in groups]
    envoy_render.write_atomically(path, json.dumps(document, indent=1))


def render_kubernetes_config(*, namespace: str, rules_path: pathlib.Path) -> dict:
    """The cluster's scrape config: the same jobs, interval and rules, targets from pod discovery.

    Pods are found by their ``app.kubernetes.io/component`` label (``app`` or ``envoy``) and the
    container port named ``http`` (app) or ``stats`` (Envoy). Targets get the labels the local
    file_sd files give (``service`` and ``replica`` for apps, ``proxy`` for Envoys), so every query
    and rule reads the same, plus ``namespace`` and ``pod``, which prometheus-adapter maps to
    Kubernetes objects.
    """
    config = render_config(file_sd_dir=pathlib.Path("/unused"), rules_path=rules_path)
    jobs = {APP_JOB: ("app", "http", "service"), ENVOY_JOB: ("envoy", "stats", "proxy")}
    for job in config["scrape_configs"]:
        component, port_name, name_label = jobs[job["job_name"]]
        del job["file_sd_configs"]
        job["kubernetes_sd_configs"] = [{"role": "pod", "namespaces": {"names": [namespace]}}]
        job["relabel_configs"] = _pod_relabelling(component, port_name, name_label)
    return config


def _pod_relabelling(component: str, port_name: str, name_label: str) -> list[dict]:
    meta = "__meta_kubernetes_pod_"
    return [
        {"source_labels": [f"{meta}label_app_kubernetes_io_component"], "regex": component, "action": "keep"},
        {"source_labels": [f"{meta}container_port_name"], "regex": port_name, "action": "keep"},
        # a pod without an IP yet (Pending) has no address to scrape
        {"source_labels": [f"{meta}phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
        {"source_labels": [f"{meta}label_app_kubernetes_io_name"], "target_label": name_label},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": [f"{meta}name"], "target_label": "pod"},
        *([{"source_labels": [f"{meta}name"], "target_label": "replica"}] if component == "app" else []),
    ]
