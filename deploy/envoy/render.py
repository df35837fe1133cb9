"""One Envoy configuration source for both backends: the proxy in front of one service.

``render_bootstrap`` builds the bootstrap of the Envoy that fronts one service: a listener, one
cluster holding the service's replicas (circuit breakers, with a retry budget when the scenario
sets one; outlier detection; active health checks on ``/readyz``) and a route with the scenario's
timeout and retry policy. Only the discovery block differs between backends: the local backend
feeds endpoints from an EDS file that it replaces atomically (``write_eds``); a cluster would use
STRICT_DNS on a headless Service instead.
Field semantics: Envoy's v3 API reference (``config.cluster.v3.Cluster``, ``config.route.v3.RetryPolicy``);
what the counters mean for flow conservation: docs/analysis.md.
"""
from __future__ import annotations

import os
import pathlib
import tempfile

import yaml

HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HTTP_FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
ADMIN_PREFIX = "/admin"
"""The replicas' fault-injection API (services/common/faults.py); refused by every proxy."""
ADMIN_REFUSAL = "the admin API is not served through the proxy\n"


def seconds(value: float) -> str:
    """Envoy's Duration text form (``0.25s``)."""
    return f"{value:.3f}".rstrip("0").rstrip(".") + "s"


def render_bootstrap(*, service: str, listen_port: int, admin_port: int, eds_path: pathlib.Path,
                     envoy: dict, listen_address: str = "127.0.0.1", fault_filter: bool = False) -> dict:
    """The bootstrap of the Envoy in front of ``service``; ``envoy`` is an EnvoySettings dump.
    ``fault_filter`` adds Envoy's fault filter, idle until switched on at run time (:func:`fault_runtime`)."""
    return {
        "node": {"id": f"tailstorm-{service}", "cluster": "tailstorm"},  # required by file xDS
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        # an admin layer makes breakers and outlier settings changeable at run time (/runtime_modify)
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}},
                                       {"name": "admin", "admin_layer": {}}]},
        "static_resources": {
            "listeners": [render_listener(service=service, address=listen_address, port=listen_port, envoy=envoy,
                                          fault_filter=fault_filter)],
            "clusters": [render_cluster(service=service, eds_path=eds_path, envoy=envoy)],
        },
    }


def render_listener(*, service: str, address: str, port: int, envoy: dict, fault_filter: bool = False) -> dict:
    route: dict = {"cluster": service, "timeout": seconds(envoy["route_timeout_seconds"])}
    retry = envoy["retry"]
    if retry["num_retries"] > 0:
        route["retry_policy"] = {
            "retry_on": retry["retry_on"],
            "num_retries": retry["num_retries"],
            "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                      "typed_config": {"@type": PREVIOUS_HOSTS}}],
            "host_selection_retry_max_attempts": 3,
        }
        if retry["per_try_timeout_seconds"]:
            route["retry_policy"]["per_try_timeout"] = seconds(retry["per_try_timeout_seconds"])
        if retry["hedge_on_per_try_timeout"]:
            # a late attempt is not cancelled: the first answer of the racing attempts wins
            route["hedge_policy"] = {"hedge_on_per_try_timeout": True}
    return {
        "name": f"{service}_ingress",
        "address": {"socket_address": {"address": address, "port_value": port}},
        # a second listener on this port must fail to bind, not share it: with SO_REUSEPORT two
        # proxies on one port split the connections between them, one service's traffic going to another
        "enable_reuse_port": False,
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": HCM,
                "stat_prefix": service,
                # /v1/../admin, //admin and %2e forms reach the /admin route below, not the replica
                "normalize_path": True,
                "merge_slashes": True,
                "route_config": {"name": service, "virtual_hosts": [{
                    "name": service, "domains": ["*"], "routes": [
                        # the fault/admin API answers only on a replica's own address, never through its proxy
                        {"match": {"prefix": ADMIN_PREFIX}, "direct_response": {
                            "status": 404, "body": {"inline_string": ADMIN_REFUSAL}}},
                        {"match": {"prefix": "/"}, "route": route},
                    ],
                }]},
                "http_filters": ([render_fault_filter()] if fault_filter else [])
                + [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
            },
        }]}],
    }


# -- fault injection -------------------------------------------------------------------------------
# A dependency that fails or is slow, made by its own proxy: Envoy's fault filter, rendered (before the
# router, as it must be) only for a service the scenario schedules such a fault on, and idle (0 %)
# until the fault executor sets its runtime keys through the admin API (``POST /runtime_modify``,
# the bootstrap's admin layer). Checked with Envoy 1.40: an integer runtime value is a whole percent
# (denominator 100, whatever the configured one; values above 100 mean always), a fractional one is
# truncated, and an empty value removes the override so the configured 0 % holds again.

FAULT_ABORT_PERCENT = "fault.http.abort.abort_percent"
FAULT_ABORT_STATUS = "fault.http.abort.http_status"
FAULT_DELAY_PERCENT = "fault.http.delay.fixed_delay_percent"
FAULT_DELAY_MS = "fault.http.delay.fixed_duration_ms"


def render_fault_filter() -> dict:
    """``envoy.filters.http.fault`` injecting nothing until its runtime keys say otherwise."""
    return {"name": "envoy.filters.http.fault", "typed_config": {
        "@type": HTTP_FAULT,
        "abort": {"http_status": 503, "percentage": {"numerator": 0, "denominator": "HUNDRED"}},
        # a delay needs a positive duration in the config; the runtime key replaces it
        "delay": {"fixed_delay": "0.001s", "percentage": {"numerator": 0, "denominator": "HUNDRED"}},
    }}


def fault_runtime(*, abort_percent: int = 0, abort_status: int = 503, delay_percent: int = 0,
                  delay_seconds: float = 0.0) -> dict[str, str]:
    """The runtime values that make the fault filter abort ``abort_percent`` % of requests with
    ``abort_status`` and hold ``delay_percent`` % for ``delay_seconds`` (whole ms); all zero clears
    every override (empty values), so the filter is idle again."""
    if not (0 <= abort_percent <= 100 and 0 <= delay_percent <= 100):
        raise ValueError(f"fault percentages must be whole numbers in 0..100, got abort {abort_percent}, "
                         f"delay {delay_percent}")
    values = {FAULT_ABORT_PERCENT: abort_percent, FAULT_ABORT_STATUS: abort_status if abort_percent else 0,
              FAULT_DELAY_PERCENT: delay_percent, FAULT_DELAY_MS: round(delay_seconds * 1000) if delay_percent else 0}
    return {key: str(value) if value else "" for key, value in values.items()}


def render_thresholds(breaker: dict) -> dict:
    """The DEFAULT priority's circuit-breaker thresholds; with a ``retry_budget`` Envoy bounds
    concurrent retries by it and ignores ``max_retries`` (rendered all the same, as set)."""
    thresholds = {
        "priority": "DEFAULT",
        "max_connections": breaker["max_connections"],
        "max_pending_requests": breaker["max_pending_requests"],
        "max_requests": breaker["max_requests"],
        "max_retries": breaker["max_retries"],
        "track_remaining": True,  # publishes remaining_* gauges
    }
    budget = breaker.get("retry_budget")
    if budget is not None:
        thresholds["retry_budget"] = {"budget_percent": {"value": float(budget["budget_percent"])},
                                      "min_retry_concurrency": budget["min_retry_concurrency"]}
    return thresholds


def render_cluster(*, service: str, eds_path: pathlib.Path, envoy: dict) -> dict:
    breaker, outlier = envoy["circuit_breaker"], envoy["outlier_detection"]
    interval = envoy["health_check_interval_seconds"]
    return {
        "name": service,
        "type": "EDS",
        "connect_timeout": "0.25s",
        # least-request (power of two choices) keeps replicas' queues even, nearer one shared queue
        "lb_policy": envoy["lb_policy"].upper(),
        "eds_cluster_config": {"service_name": service, "eds_config": {
            "resource_api_version": "V3",
            # Envoy reloads when a file is renamed onto the path (inotify); in-place writes are missed
            "path_config_source": {"path": str(eds_path), "watched_directory": {"path": str(eds_path.parent)}},
        }},
        # a replica removed from EDS takes no new request at once; its open requests still finish
        "ignore_health_on_host_removal": True,
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": HTTP_PROTOCOL_OPTIONS,
            # below uvicorn's 5 s keep-alive, so Envoy never reuses a connection uvicorn is closing
            "common_http_protocol_options": {"idle_timeout": "4s"},
            "explicit_http_config": {"http_protocol_options": {}},
        }},
        "circuit_breakers": {"thresholds": [render_thresholds(breaker)]},
        "outlier_detection": {
            "consecutive_5xx": outlier["consecutive_5xx"],
            "interval": seconds(outlier["interval_seconds"]),
            "base_ejection_time": seconds(outlier["base_ejection_time_seconds"]),
            "max_ejection_percent": outlier["max_ejection_percent"],
        },
        # active health checks are what admit a new replica: no traffic until /readyz passes
        "health_checks": [{
            "timeout": seconds(min(1.0, interval)),
            "interval": seconds(interval),
            # without traffic Envoy would wait no_traffic_interval (default 60 s) between checks,
            # so a replica still starting when first probed would stay out for a minute
            "no_traffic_interval": seconds(interval),
            "unhealthy_threshold": 2,
            "healthy_threshold": 1,
            "http_health_check": {"path": "/readyz"},
        }],
        # panic routing would send traffic to unready replicas when few are healthy; Istio sets 0 too
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }


def render_eds(*, service: str, endpoints: list[tuple[str, int]], version: str) -> dict:
    """A DiscoveryResponse holding the service's ClusterLoadAssignment."""
    return {
        "version_info": version,
        "resources": [{
            "@type": CLA,
            "cluster_name": service,
            "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
                for host, port in endpoints
            ]}],
        }],
    }


def write_atomically(path: pathlib.Path, text: str) -> None:
    """Write a temp file in the same directory, then rename it onto ``path`` (what watchers see)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_eds(path: pathlib.Path, *, service: str, endpoints: list[tuple[str, int]], version: str) -> None:
    write_atomically(path, yaml.safe_dump(render_eds(service=service, endpoints=endpoints, version=version)))


# -- the cluster variant ---------------------------------------------------------------------------
# Same listener, same cluster (breakers, outlier detection, health checks, timeouts, retries); only
# discovery differs: STRICT_DNS on the service's headless Service instead of an EDS file. Kubernetes
# keeps the Service's endpoints (Ready pods only, as the local backend's EDS holds Ready replicas),
# the HPA scales the Deployment, and Envoy re-resolves every DNS_REFRESH_SECONDS.

DNS_REFRESH_SECONDS = 1.0
"""How often Envoy re-resolves the headless Service. The answer's TTL is ignored: CoreDNS answers
cluster.local names from the live EndpointSlices (kubeadm's Corefile disables caching them), while
its TTL (30 s in kubeadm's Corefile) would delay a new Ready pod by up to half a minute."""


def render_dns_bootstrap(*, service: str, listen_port: int, admin_port: int, stats_port: int,
                         upstream_host: str, upstream_port: int, envoy: dict, fault_filter: bool = False) -> dict:
    """The bootstrap of a service's Envoy in a cluster: ``render_bootstrap`` with DNS discovery.

    The listener binds all addresses (the Service sends traffic to the pod IP); the admin API stays
    on 127.0.0.1 (reachable through ``kubectl port-forward`` only), and a second listener on
    ``stats_port`` serves just ``/stats/prometheus`` for Prometheus.
    """
    bootstrap = render_bootstrap(service=service, listen_port=listen_port, admin_port=admin_port,
                                 eds_path=pathlib.Path("/unused/eds.yaml"), envoy=envoy, listen_address="0.0.0.0",
                                 fault_filter=fault_filter)
    resources = bootstrap["static_resources"]
    resources["clusters"] = [with_dns_discovery(cluster, host=upstream_host, port=upstream_port)
                             for cluster in resources["clusters"]]
    resources["listeners"].append(render_stats_listener(port=stats_port))
    resources["clusters"].append(render_admin_cluster(admin_port=admin_port))
    return bootstrap


def with_dns_discovery(cluster: dict, *, host: str, port: int) -> dict:
    """``cluster`` with its EDS block swapped for STRICT_DNS on ``host:port`` (every A record a host)."""
    dns = {key: value for key, value in cluster.items() if key not in ("type", "eds_cluster_config")}
    dns.update({
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_ONLY",
        "dns_refresh_rate": seconds(DNS_REFRESH_SECONDS),
        "respect_dns_ttl": False,
        "load_assignment": {"cluster_name": cluster["name"], "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]},
    })
    return dns


ADMIN_CLUSTER = "envoy_admin"


def render_stats_listener(*, port: int) -> dict:
    """A listener that serves ``GET /stats/prometheus`` and ``GET /ready`` from the admin API and
    404 for anything else, so Prometheus and the kubelet reach Envoy without the admin API (drain,
    quit, runtime changes) being exposed."""
    return {
        "name": "stats",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": HCM,
                "stat_prefix": "stats",
                "route_config": {"name": "stats", "virtual_hosts": [{
                    "name": "stats", "domains": ["*"], "routes": [
                        {"match": {"path": "/stats/prometheus"}, "route": {"cluster": ADMIN_CLUSTER}},
                        # the kubelet's readiness probe: LIVE (200) once Envoy is initialised
                        {"match": {"path": "/ready"}, "route": {"cluster": ADMIN_CLUSTER}},
                        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                    ],
                }]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
            },
        }]}],
    }


def render_admin_cluster(*, admin_port: int) -> dict:
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": ADMIN_CLUSTER, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}}]}]},
    }
