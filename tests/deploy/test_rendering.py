"""Envoy and Prometheus configuration, validated by the real binaries offline.

Aspects: every catalog scenario's Envoy bootstraps pass ``envoy --mode validate``; an EDS file as
written passes too (pasted as a static load_assignment, since validate does not read EDS files);
a retry budget validates (field by field: test_envoy_values.py), while Envoy refuses one over
100 %; the Prometheus config and rules pass ``promtool``; the EDS writer replaces files by rename.
"""
import json
import pathlib
import shutil
import subprocess

import pytest
import yaml

from deploy.envoy import render as envoy_render
from deploy.local import processes
from deploy.prometheus import render as prometheus_render
from schema import scenario

CATALOG = sorted(scenario.SCENARIO_DIR.glob("*.yaml"))


def envoy_binary() -> str:
    return processes.find_binary("envoy", env_var="TAILSTORM_ENVOY", hint="make setup")


def validate(config: dict, tmp_path: pathlib.Path) -> subprocess.CompletedProcess:
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart",
                           "-l", "error"], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_scenarios_envoy_bootstraps_validate(path, tmp_path):
    loaded = scenario.load_scenario(path)
    eds = tmp_path / "eds" / "svc.yaml"
    eds.parent.mkdir()
    eds.write_text("")
    for service in loaded.services:
        config = envoy_render.render_bootstrap(service=service, listen_port=10000, admin_port=10001, eds_path=eds,
                                               envoy=loaded.envoy_for(service).model_dump())
        result = validate(config, tmp_path)
        assert result.returncode == 0, f"{service}: {result.stdout}{result.stderr}"


def test_hedging_and_every_balancing_policy_validate(tmp_path):
    eds = tmp_path / "eds" / "svc.yaml"
    eds.parent.mkdir()
    eds.write_text("")
    for policy in ("round_robin", "random"):
        settings = scenario.EnvoySettings(lb_policy=policy, retry=scenario.RetryPolicy(
            retry_on="5xx", num_retries=1, per_try_timeout_seconds=0.05, hedge_on_per_try_timeout=True))
        config = envoy_render.render_bootstrap(service="inference", listen_port=10000, admin_port=10001, eds_path=eds,
                                               envoy=settings.model_dump())
        result = validate(config, tmp_path)
        assert result.returncode == 0, f"{policy}: {result.stdout}{result.stderr}"


def test_a_written_eds_document_is_a_valid_load_assignment(tmp_path):
    eds_path = tmp_path / "auth.yaml"
    envoy_render.write_eds(eds_path, service="auth", endpoints=[("127.0.0.1", 8001), ("127.0.0.1", 8002)], version="3")
    document = yaml.safe_load(eds_path.read_text())
    assignment = {k: v for k, v in document["resources"][0].items() if k != "@type"}
    config = envoy_render.render_bootstrap(service="auth", listen_port=10000, admin_port=10001, eds_path=eds_path,
                                           envoy=scenario.EnvoySettings().model_dump())
    cluster = config["static_resources"]["clusters"][0]
    for key in ("eds_cluster_config",):
        cluster.pop(key)
    cluster.update(type="STATIC", load_assignment=assignment)
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert document["version_info"] == "3"


def test_a_misspelt_field_fails_envoy_validation(tmp_path):
    config = envoy_render.render_bootstrap(service="auth", listen_port=10000, admin_port=10001,
                                           eds_path=tmp_path / "x.yaml", envoy=scenario.EnvoySettings().model_dump())
    (tmp_path / "x.yaml").write_text("")
    config["static_resources"]["clusters"][0]["circuit_breakers"]["thresholds"][0]["max_requestz"] = 1
    assert validate(config, tmp_path).returncode != 0


def test_a_bootstrap_with_an_envoy_retry_budget_validates(tmp_path):
    (tmp_path / "x.yaml").write_text("")
    budgeted = scenario.EnvoySettings(retry={"retry_on": "5xx", "num_retries": 2, "per_try_timeout_seconds": 0.5},
                                      circuit_breaker={"retry_budget": {"budget_percent": 25,
                                                                        "min_retry_concurrency": 4}})
    config = envoy_render.render_bootstrap(service="inference", listen_port=10000, admin_port=10001,
                                           eds_path=tmp_path / "x.yaml", envoy=budgeted.model_dump())
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_refuses_a_retry_budget_over_one_hundred_percent(tmp_path):
    (tmp_path / "x.yaml").write_text("")
    config = envoy_render.render_bootstrap(service="auth", listen_port=10000, admin_port=10001,
                                           eds_path=tmp_path / "x.yaml", envoy=scenario.EnvoySettings(
                                               circuit_breaker={"retry_budget": {}}).model_dump())
    thresholds = config["static_resources"]["clusters"][0]["circuit_breakers"]["thresholds"][0]
    assert thresholds["retry_budget"] == {"budget_percent": {"value": 20.0}, "min_retry_concurrency": 3}
    thresholds["retry_budget"]["budget_percent"]["value"] = 150.0
    assert validate(config, tmp_path).returncode != 0


def test_files_are_replaced_by_rename_not_rewritten_in_place(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text("[]")
    before = path.stat().st_ino
    prometheus_render.write_targets(path, [("127.0.0.1:9", {"service": "auth"})])
    assert path.stat().st_ino != before
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:9"], "labels": {"service": "auth"}}]
    assert [p.name for p in tmp_path.iterdir()] == ["targets.json"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with Prometheus: run `make setup`")
def test_the_prometheus_config_and_rules_pass_promtool(tmp_path):
    (tmp_path / "sd").mkdir()
    config = prometheus_render.render_config(file_sd_dir=tmp_path / "sd")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
