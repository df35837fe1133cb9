"""The values of the Envoy bootstrap's cluster variant and of the parts every proxy shares.

``test_envoy_values.py`` checks the local (EDS) bootstrap against the scenario field by field;
this module does the same for what the cluster's proxies get and for the pieces both variants
carry. We test these aspects:

- the cluster variant is the local bootstrap with STRICT_DNS discovery on the headless Service
  (every address a host, IPv4, re-resolved every second whatever the TTL) instead of the EDS
  file; nothing else in the service's cluster changes;
- its ingress listener binds all addresses, its admin API stays on loopback, and a second
  listener serves only ``/stats/prometheus`` and ``/ready`` from the admin API (404 for the rest)
  through a static cluster on the admin port; the fault filter is passed through when asked for;
- every ingress refuses ``/admin`` (the replicas' fault API) with a 404 and a sentence, after
  normalising the path and merging slashes, and never shares its port;
- the fault filter's idle configuration; its runtime values at 0 and 100 %, a delay in whole
  (rounded) milliseconds, the status only while aborting; percentages outside 0..100 refused
  with the sentence naming both.
"""
from __future__ import annotations

import pathlib

import pytest

from deploy.envoy import render
from tests.deploy import test_envoy_values

SETTINGS = test_envoy_values.SETTINGS
ADMIN_REFUSAL_ROUTE = {"match": {"prefix": "/admin"}, "direct_response": {
    "status": 404, "body": {"inline_string": "the admin API is not served through the proxy\n"}}}


def dns_bootstrap(**kwargs: bool) -> dict:
    return render.render_dns_bootstrap(service="auth", listen_port=10000, admin_port=9901, stats_port=9902,
                                       upstream_host="auth-pods", upstream_port=8080, envoy=SETTINGS.model_dump(),
                                       **kwargs)


def local_bootstrap(**kwargs: object) -> dict:
    return render.render_bootstrap(service="auth", listen_port=10000, admin_port=9901,
                                   eds_path=pathlib.Path("/run/eds/auth.yaml"), envoy=SETTINGS.model_dump(),
                                   **kwargs)  # type: ignore[arg-type]


def test_the_cluster_variant_swaps_the_eds_file_for_strict_dns_on_the_headless_service() -> None:
    (local,) = local_bootstrap()["static_resources"]["clusters"]
    dns, admin = dns_bootstrap()["static_resources"]["clusters"]
    assert {key: dns[key] for key in dns.keys() - local.keys()} == {
        "dns_lookup_family": "V4_ONLY",
        "dns_refresh_rate": "1s",
        "respect_dns_ttl": False,
        "load_assignment": {"cluster_name": "auth", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "auth-pods", "port_value": 8080}}}}]}]},
    }
    assert dns["type"] == "STRICT_DNS" and "eds_cluster_config" not in dns
    unchanged = local.keys() - {"type", "eds_cluster_config"}
    assert {key: dns[key] for key in unchanged} == {key: local[key] for key in unchanged}
    assert admin == {
        "name": "envoy_admin", "type": "STATIC", "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": "envoy_admin", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}}}]}]},
    }


def test_the_cluster_variant_listens_on_all_addresses_and_keeps_admin_on_loopback() -> None:
    config = dns_bootstrap()
    ingress, stats = config["static_resources"]["listeners"]
    local_ingress = local_bootstrap(listen_address="0.0.0.0")["static_resources"]["listeners"][0]
    assert ingress == local_ingress
    assert ingress["address"] == {"socket_address": {"address": "0.0.0.0", "port_value": 10000}}
    assert config["admin"] == {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}}
    assert (config["node"], config["layered_runtime"]) == (local_bootstrap()["node"], local_bootstrap()["layered_runtime"])
    assert stats["name"] == "stats"


def test_the_stats_listener_serves_only_prometheus_stats_and_readiness_from_the_admin_api() -> None:
    (_, stats) = dns_bootstrap()["static_resources"]["listeners"]
    assert stats == {
        "name": "stats",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9902}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": test_envoy_values.connection_manager(local_bootstrap())["@type"],
                "stat_prefix": "stats",
                "route_config": {"name": "stats", "virtual_hosts": [{
                    "name": "stats", "domains": ["*"], "routes": [
                        {"match": {"path": "/stats/prometheus"}, "route": {"cluster": "envoy_admin"}},
                        {"match": {"path": "/ready"}, "route": {"cluster": "envoy_admin"}},
                        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                    ],
                }]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            },
        }]}],
    }


def _http_filters(listener: dict) -> list[str]:
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return [f["name"] for f in manager["http_filters"]]


def test_the_fault_filter_is_rendered_only_when_asked_for_in_either_variant() -> None:
    ingress = dns_bootstrap(fault_filter=True)["static_resources"]["listeners"][0]
    assert _http_filters(ingress) == ["envoy.filters.http.fault", "envoy.filters.http.router"]
    assert _http_filters(dns_bootstrap()["static_resources"]["listeners"][0]) == ["envoy.filters.http.router"]
    listener = render.render_listener(service="auth", address="127.0.0.1", port=10000, envoy=SETTINGS.model_dump())
    assert _http_filters(listener) == ["envoy.filters.http.router"]


@pytest.mark.parametrize("fault_filter", [False, True])
def test_every_ingress_refuses_the_admin_api_after_normalising_the_path(fault_filter: bool) -> None:
    config = local_bootstrap(fault_filter=fault_filter)
    ingress = config["static_resources"]["listeners"][0]
    manager = test_envoy_values.connection_manager(config)
    (host,) = manager["route_config"]["virtual_hosts"]
    assert host["routes"] == [ADMIN_REFUSAL_ROUTE,
                              {"match": {"prefix": "/"}, "route": test_envoy_values.service_route(config)}]
    assert (manager["normalize_path"], manager["merge_slashes"]) == (True, True)
    assert ingress["enable_reuse_port"] is False


def test_the_fault_filter_injects_nothing_until_its_runtime_keys_are_set() -> None:
    assert render.render_fault_filter() == {"name": "envoy.filters.http.fault", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "abort": {"http_status": 503, "percentage": {"numerator": 0, "denominator": "HUNDRED"}},
        "delay": {"fixed_delay": "0.001s", "percentage": {"numerator": 0, "denominator": "HUNDRED"}},
    }}


def test_fault_runtime_values_at_the_ends_of_the_percent_range() -> None:
    assert render.fault_runtime(abort_percent=100, delay_percent=0, delay_seconds=2.0) == {
        "fault.http.abort.abort_percent": "100", "fault.http.abort.http_status": "503",
        "fault.http.delay.fixed_delay_percent": "", "fault.http.delay.fixed_duration_ms": ""}
    assert render.fault_runtime(abort_percent=0, abort_status=500, delay_percent=100, delay_seconds=0.0016) == {
        "fault.http.abort.abort_percent": "", "fault.http.abort.http_status": "",
        "fault.http.delay.fixed_delay_percent": "100", "fault.http.delay.fixed_duration_ms": "2"}
    assert render.fault_runtime(delay_percent=50, delay_seconds=2.0)["fault.http.delay.fixed_duration_ms"] == "2000"
    # no duration given: the override is cleared and the filter's configured 1 ms holds
    assert render.fault_runtime(delay_percent=50)["fault.http.delay.fixed_duration_ms"] == ""


@pytest.mark.parametrize(("settings", "message"), [
    pytest.param({"abort_percent": 101}, "abort 101, delay 0", id="abort-above-100"),
    pytest.param({"abort_percent": -1}, "abort -1, delay 0", id="abort-negative"),
    pytest.param({"delay_percent": 101}, "abort 0, delay 101", id="delay-above-100"),
    pytest.param({"delay_percent": -1}, "abort 0, delay -1", id="delay-negative"),
])
def test_a_fault_percentage_outside_0_to_100_is_refused_naming_both(settings: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        render.fault_runtime(**settings)
    assert str(raised.value) == f"fault percentages must be whole numbers in 0..100, got {message}"
