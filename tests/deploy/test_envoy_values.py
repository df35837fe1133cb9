"""The values the Envoy renderer configures, field by field against the scenario.

``test_rendering.py`` checks that Envoy accepts what we render; this module checks that what it
accepts is what the scenario asked for, so dropping or changing any single resilience field fails
a test here. We test these aspects:

- the route: timeout, and the retry policy (``retry_on``, ``num_retries``, ``per_try_timeout``, the
  ``previous_hosts`` predicate, re-pick attempts), absent when ``num_retries`` is 0;
- the cluster: every circuit-breaker threshold (and the retry budget where one is set, nothing
  else changing), every outlier-detection field, the active health check (interval, timeout capped
  at 1 s, no-traffic interval, thresholds, path), panic threshold 0, EDS source, load balancing,
  idle timeout;
- every catalog scenario's every proxy, against its resolved ``envoy`` block; and the catalog holds
  a scenario that turns Envoy retries on;
- the bootstrap around them (node, admin, runtime layers), EDS documents, Duration text, and the
  atomic writer leaving nothing behind when a write fails.
"""
from __future__ import annotations

import os
import pathlib

import pytest
import yaml

from deploy.envoy import render
from schema import scenario

CATALOG = sorted(scenario.SCENARIO_DIR.glob("*.yaml"))
EDS = pathlib.Path("/run/tailstorm/eds/inference.yaml")
PREVIOUS_HOSTS = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
}

# Every resilience field away from its default, so a renderer that ignored one would show.
SETTINGS = scenario.EnvoySettings(
    route_timeout_seconds=2.5,
    circuit_breaker=scenario.CircuitBreaker(max_connections=11, max_pending_requests=12, max_requests=13, max_retries=4),
    retry=scenario.RetryPolicy(retry_on="5xx,reset", num_retries=2, per_try_timeout_seconds=0.75),
    outlier_detection=scenario.OutlierDetection(consecutive_5xx=7, interval_seconds=3.0, base_ejection_time_seconds=20.0,
                                                max_ejection_percent=40),
    health_check_interval_seconds=0.5,
)


def bootstrap(settings: scenario.EnvoySettings = SETTINGS, service: str = "inference") -> dict:
    return render.render_bootstrap(service=service, listen_port=10080, admin_port=10081, eds_path=EDS,
                                   envoy=settings.model_dump())


def listener(config: dict) -> dict:
    (only,) = config["static_resources"]["listeners"]
    return only


def cluster(config: dict) -> dict:
    (only,) = config["static_resources"]["clusters"]
    return only


def connection_manager(config: dict) -> dict:
    (chain,) = listener(config)["filter_chains"]
    (manager,) = chain["filters"]
    assert manager["name"] == "envoy.filters.network.http_connection_manager"
    return manager["typed_config"]


def service_route(config: dict) -> dict:
    """The route that forwards to the service: the catch-all ``/`` route (other routes may precede it)."""
    (host,) = connection_manager(config)["route_config"]["virtual_hosts"]
    forwarding = [r for r in host["routes"] if r["match"] == {"prefix": "/"}]
    assert len(forwarding) == 1, host["routes"]
    return forwarding[0]["route"]


def duration(seconds: float) -> str:
    """Envoy's Duration text written out independently of the renderer: shortest decimal, then 's'."""
    text = repr(round(seconds, 3))
    return (text[:-2] if text.endswith(".0") else text) + "s"


def expected_route(settings: scenario.EnvoySettings, service: str) -> dict:
    route: dict = {"cluster": service, "timeout": duration(settings.route_timeout_seconds)}
    retry = settings.retry
    if retry.num_retries:
        route["retry_policy"] = {"retry_on": retry.retry_on, "num_retries": retry.num_retries,
                                 "retry_host_predicate": [PREVIOUS_HOSTS], "host_selection_retry_max_attempts": 3}
        if retry.per_try_timeout_seconds is not None:
            route["retry_policy"]["per_try_timeout"] = duration(retry.per_try_timeout_seconds)
    return route


def expected_thresholds(breaker: scenario.CircuitBreaker) -> dict:
    thresholds = {"priority": "DEFAULT", "max_connections": breaker.max_connections,
                  "max_pending_requests": breaker.max_pending_requests, "max_requests": breaker.max_requests,
                  "max_retries": breaker.max_retries, "track_remaining": True}
    if breaker.retry_budget is not None:
        thresholds["retry_budget"] = {"budget_percent": {"value": breaker.retry_budget.budget_percent},
                                      "min_retry_concurrency": breaker.retry_budget.min_retry_concurrency}
    return thresholds


def expected_resilience(settings: scenario.EnvoySettings) -> dict:
    breaker, outlier = settings.circuit_breaker, settings.outlier_detection
    interval = settings.health_check_interval_seconds
    return {
        "circuit_breakers": {"thresholds": [expected_thresholds(breaker)]},
        "outlier_detection": {
            "consecutive_5xx": outlier.consecutive_5xx, "interval": duration(outlier.interval_seconds),
            "base_ejection_time": duration(outlier.base_ejection_time_seconds),
            "max_ejection_percent": outlier.max_ejection_percent,
        },
        "health_checks": [{
            "timeout": duration(min(1.0, interval)), "interval": duration(interval),
            "no_traffic_interval": duration(interval), "unhealthy_threshold": 2, "healthy_threshold": 1,
            "http_health_check": {"path": "/readyz"},
        }],
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }


def test_route_carries_the_timeout_and_the_whole_retry_policy() -> None:
    assert service_route(bootstrap()) == {
        "cluster": "inference",
        "timeout": "2.5s",
        "retry_policy": {
            "retry_on": "5xx,reset",
            "num_retries": 2,
            "per_try_timeout": "0.75s",
            "retry_host_predicate": [PREVIOUS_HOSTS],
            "host_selection_retry_max_attempts": 3,
        },
    }


def test_zero_retries_render_no_retry_policy_at_all() -> None:
    settings = SETTINGS.model_copy(update={"retry": scenario.RetryPolicy(retry_on="5xx", num_retries=0,
                                                                         per_try_timeout_seconds=0.5)})
    assert service_route(bootstrap(settings)) == {"cluster": "inference", "timeout": "2.5s"}


def test_one_retry_is_rendered_and_without_a_per_try_timeout_none_is_set() -> None:
    settings = SETTINGS.model_copy(update={"retry": scenario.RetryPolicy(retry_on="connect-failure", num_retries=1)})
    policy = service_route(bootstrap(settings))["retry_policy"]
    assert policy == {"retry_on": "connect-failure", "num_retries": 1, "retry_host_predicate": [PREVIOUS_HOSTS],
                      "host_selection_retry_max_attempts": 3}


def test_every_circuit_breaker_threshold_is_the_scenarios() -> None:
    assert cluster(bootstrap())["circuit_breakers"] == {"thresholds": [{
        "priority": "DEFAULT", "max_connections": 11, "max_pending_requests": 12, "max_requests": 13,
        "max_retries": 4, "track_remaining": True,
    }]}


def test_a_retry_budget_joins_the_thresholds_and_changes_nothing_else() -> None:
    budgeted = SETTINGS.model_copy(update={"circuit_breaker": SETTINGS.circuit_breaker.model_copy(
        update={"retry_budget": scenario.EnvoyRetryBudget(budget_percent=30, min_retry_concurrency=5)})})
    assert cluster(bootstrap(budgeted))["circuit_breakers"] == {"thresholds": [{
        "priority": "DEFAULT", "max_connections": 11, "max_pending_requests": 12, "max_requests": 13,
        "max_retries": 4, "track_remaining": True,
        "retry_budget": {"budget_percent": {"value": 30.0}, "min_retry_concurrency": 5},
    }]}
    without = bootstrap(budgeted)
    del cluster(without)["circuit_breakers"]["thresholds"][0]["retry_budget"]
    assert without == bootstrap()


def test_every_outlier_detection_field_is_the_scenarios() -> None:
    assert cluster(bootstrap())["outlier_detection"] == {
        "consecutive_5xx": 7, "interval": "3s", "base_ejection_time": "20s", "max_ejection_percent": 40,
    }


@pytest.mark.parametrize("interval, timeout", [(0.5, "0.5s"), (1.0, "1s"), (4.0, "1s")])
def test_health_check_probes_readyz_at_the_interval_with_a_timeout_of_at_most_one_second(interval, timeout) -> None:
    settings = SETTINGS.model_copy(update={"health_check_interval_seconds": interval})
    (check,) = cluster(bootstrap(settings))["health_checks"]
    assert check == {
        "timeout": timeout, "interval": duration(interval), "no_traffic_interval": duration(interval),
        "unhealthy_threshold": 2, "healthy_threshold": 1, "http_health_check": {"path": "/readyz"},
    }


def test_panic_routing_is_off_so_unready_replicas_never_take_traffic() -> None:
    assert cluster(bootstrap())["common_lb_config"] == {"healthy_panic_threshold": {"value": 0}}


def test_cluster_reads_endpoints_from_the_watched_eds_file_and_balances_on_least_requests() -> None:
    rendered = cluster(bootstrap())
    assert rendered["name"] == "inference"
    assert rendered["type"] == "EDS"
    assert rendered["connect_timeout"] == "0.25s"
    assert rendered["lb_policy"] == "LEAST_REQUEST"
    assert rendered["ignore_health_on_host_removal"] is True
    assert rendered["eds_cluster_config"] == {"service_name": "inference", "eds_config": {
        "resource_api_version": "V3",
        "path_config_source": {"path": str(EDS), "watched_directory": {"path": str(EDS.parent)}},
    }}
    assert rendered["typed_extension_protocol_options"] == {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "common_http_protocol_options": {"idle_timeout": "4s"},
        "explicit_http_config": {"http_protocol_options": {}},
    }}


def test_listener_binds_the_given_address_and_routes_every_host_through_the_router() -> None:
    config = render.render_bootstrap(service="auth", listen_port=10090, admin_port=10091, eds_path=EDS,
                                     envoy=SETTINGS.model_dump(), listen_address="127.0.0.2")
    rendered = listener(config)
    assert rendered["name"] == "auth_ingress"
    assert rendered["address"] == {"socket_address": {"address": "127.0.0.2", "port_value": 10090}}
    manager = connection_manager(config)
    assert manager["@type"] == ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                                ".HttpConnectionManager")
    assert manager["stat_prefix"] == "auth"
    assert manager["route_config"]["name"] == "auth"
    (host,) = manager["route_config"]["virtual_hosts"]
    assert (host["name"], host["domains"]) == ("auth", ["*"])
    assert manager["http_filters"][-1] == {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    assert service_route(config)["cluster"] == "auth"


def test_bootstrap_names_the_node_binds_admin_on_loopback_and_layers_an_admin_runtime() -> None:
    config = bootstrap(service="formatter")
    assert config["node"] == {"id": "tailstorm-formatter", "cluster": "tailstorm"}
    assert config["admin"] == {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 10081}}}
    assert config["layered_runtime"] == {"layers": [{"name": "static", "static_layer": {}},
                                                    {"name": "admin", "admin_layer": {}}]}


@pytest.mark.parametrize("path", CATALOG, ids=[p.stem for p in CATALOG])
def test_every_catalog_proxy_renders_its_scenarios_resilience_settings(path) -> None:
    loaded = scenario.load_scenario(path)
    for service in loaded.services:
        settings = loaded.envoy_for(service)
        config = bootstrap(settings, service=service)
        assert service_route(config) == expected_route(settings, service), service
        rendered = cluster(config)
        for key, value in expected_resilience(settings).items():
            assert rendered[key] == value, f"{path.stem}: {service}: {key}"


def test_the_catalog_turns_on_envoy_retries_with_a_per_try_timeout() -> None:
    retrying = [
        (path.stem, service)
        for path in CATALOG
        for loaded in [scenario.load_scenario(path)]
        for service in loaded.services
        if loaded.envoy_for(service).retry.num_retries > 0 and loaded.envoy_for(service).retry.per_try_timeout_seconds
    ]
    assert ("envoy-retries", "inference") in retrying


def test_envoy_retries_scenario_renders_its_retry_policy_for_inference_only() -> None:
    loaded = scenario.load_scenario("envoy-retries")
    assert service_route(bootstrap(loaded.envoy_for("inference")))["retry_policy"] == {
        "retry_on": "5xx,reset,connect-failure", "num_retries": 2, "per_try_timeout": "0.15s",
        "retry_host_predicate": [PREVIOUS_HOSTS], "host_selection_retry_max_attempts": 3,
    }
    assert "retry_policy" not in service_route(bootstrap(loaded.envoy_for("gateway"), service="gateway"))


@pytest.mark.parametrize("seconds, text", [(0.25, "0.25s"), (1.0, "1s"), (10.0, "10s"), (0.5, "0.5s"), (2.125, "2.125s"),
                                           (100, "100s"), (0.0004, "0s")])
def test_durations_are_written_in_envoys_shortest_text_form(seconds, text) -> None:
    assert render.seconds(seconds) == text


def test_eds_document_lists_every_endpoint_under_the_services_load_assignment() -> None:
    assert render.render_eds(service="auth", endpoints=[("127.0.0.1", 8001), ("127.0.0.2", 8002)], version="7") == {
        "version_info": "7",
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            "cluster_name": "auth",
            "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 8001}}}},
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.2", "port_value": 8002}}}},
            ]}],
        }],
    }


def test_written_eds_file_holds_the_rendered_document(tmp_path) -> None:
    path = tmp_path / "auth.yaml"
    render.write_eds(path, service="auth", endpoints=[("127.0.0.1", 8001)], version="2")
    assert yaml.safe_load(path.read_text()) == render.render_eds(service="auth", endpoints=[("127.0.0.1", 8001)],
                                                                 version="2")


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "targets.json"
    path.write_text("old")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        render.write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["targets.json"]


def test_an_atomic_write_names_its_temporary_file_after_the_target_in_the_same_folder(tmp_path, monkeypatch) -> None:
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((pathlib.Path(src), pathlib.Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    render.write_atomically(tmp_path / "apps.json", "[]")
    ((temporary, target),) = seen
    assert target == tmp_path / "apps.json"
    assert temporary.parent == tmp_path
    assert temporary.name.startswith(".apps.json.") and temporary.name.endswith(".tmp")
    assert (tmp_path / "apps.json").read_text() == "[]"


def test_hedging_on_a_per_try_timeout_renders_envoys_hedge_policy_next_to_the_retries() -> None:
    settings = SETTINGS.model_copy(update={"retry": scenario.RetryPolicy(
        retry_on="5xx", num_retries=1, per_try_timeout_seconds=0.05, hedge_on_per_try_timeout=True)})
    route = service_route(bootstrap(settings))
    assert route["hedge_policy"] == {"hedge_on_per_try_timeout": True}
    assert route["retry_policy"]["per_try_timeout"] == "0.05s" and route["retry_policy"]["num_retries"] == 1
    assert "hedge_policy" not in service_route(bootstrap())
    with pytest.raises(ValueError, match="hedge_on_per_try_timeout needs num_retries >= 1"):
        scenario.RetryPolicy(num_retries=1, hedge_on_per_try_timeout=True)


@pytest.mark.parametrize("policy, rendered", [("least_request", "LEAST_REQUEST"), ("round_robin", "ROUND_ROBIN"),
                                              ("random", "RANDOM")])
def test_the_load_balancing_policy_is_the_scenarios(policy, rendered) -> None:
    assert cluster(bootstrap(SETTINGS.model_copy(update={"lb_policy": policy})))["lb_policy"] == rendered
