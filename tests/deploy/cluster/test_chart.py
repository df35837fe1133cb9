"""The Helm chart, rendered by the real Helm engine (helm-python-sdk) and checked offline.

We test these aspects, for the default values, every ci/*-values.yaml and the values of every
catalog scenario:

- the chart lints (strict) and every rendered manifest validates in strict mode against the
  OpenAPI schema of the Kubernetes version deploy/kind/cluster.yaml pins (kubernetes-validate);
- the values schema refuses what it should, naming the field;
- invariants: selectors hold no changing label; every container has probes, resources and the
  restricted Pod Security context; each HPA targets a Deployment that exists and a metric that
  metrics-server or the adapter's rules serve; no Service exposes an admin port;
- each Envoy ConfigMap passes ``envoy --mode validate`` and equals, cluster for cluster, what the
  local backend renders for the same scenario (modulo addresses and discovery);
- the Prometheus config and rules pass ``promtool``; every PromQL expression of the adapter rules
  and the dashboard parses in Prometheus' own parser (promtool);
- the chart's generated parts (default services, Prometheus files, dashboard) are in step with
  their sources; the helm test hook checks every service of the chain.

Renders are cached for the session: each values case is rendered once.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import pathlib
import re
import shutil
import subprocess

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from deploy.cluster import dashboard
from deploy.cluster import values as values_module
from deploy.envoy import render as envoy_render
from deploy.local import processes
from deploy.prometheus import adapter
from schema import scenario as scenario_module

CHART = values_module.CHART_DIR
KIND_CONFIG = pathlib.Path(values_module.CHART_DIR).parents[1] / "kind" / "cluster.yaml"
CI_CASES = sorted((CHART / "ci").glob("*-values.yaml"))
CATALOG = sorted(scenario_module.SCENARIO_DIR.glob("*.yaml"))
CASES = [pytest.param(("ci", p.name), id=f"ci-{p.stem}") for p in CI_CASES] + \
        [pytest.param(("scenario", p.stem), id=f"scenario-{p.stem}") for p in CATALOG]
CHANGING_LABELS = ("app.kubernetes.io/version", "helm.sh/chart", "app.kubernetes.io/managed-by")
METRICS_SERVER_RESOURCES = ("cpu", "memory")


def kube_version() -> str:
    """The Kubernetes version of the pinned kind node image (kindest/node:vX.Y.Z@sha256:...)."""
    config = yaml.safe_load(KIND_CONFIG.read_text())
    images = {node["image"] for node in config["nodes"]}
    assert len(images) == 1, f"every node should run one pinned image, got {images}"
    match = re.fullmatch(r"kindest/node:v(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}", images.pop())
    assert match, "the kind node image must be pinned with its digest"
    return match[1]


def case_values(case: tuple[str, str]) -> dict:
    kind, name = case
    if kind == "ci":
        return yaml.safe_load((CHART / "ci" / name).read_text()) or {}
    return values_module.chart_values(scenario_module.load_scenario(name))


@functools.cache
def render(case: tuple[str, str]) -> tuple[dict, ...]:
    """Every manifest the chart renders for a values case (NOTES.txt left out)."""
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values=case_values(case), name="tailstorm", namespace="tailstorm")
    return tuple(doc for path, text in sorted(rendered.items()) if not path.endswith(".txt")
                 for doc in yaml.safe_load_all(text) if doc)


def merged_values(case: tuple[str, str]) -> dict:
    """values.yaml with the case merged over it, as Helm merges (null removes a key)."""
    def merge(base: dict, over: dict) -> dict:
        out = copy.deepcopy(base)
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out
    return merge(yaml.safe_load((CHART / "values.yaml").read_text()), case_values(case))


def of_kind(docs, kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs) -> list[tuple[str, dict]]:
    specs = [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
             for d in docs if d["kind"] in ("Deployment", "Job")]
    return specs + [(f"Pod/{d['metadata']['name']}", d["spec"]) for d in of_kind(docs, "Pod")]


DEFAULT = ("ci", "default-values.yaml")


# -- lint, schema, Kubernetes OpenAPI ---------------------------------------------------------------

def test_the_chart_lints_strictly_against_the_pinned_kubernetes_version() -> None:
    result = helm.lint(str(CHART), strict=True, kube_version=f"v{kube_version()}")
    assert result["errors"] == [] and result["messages"] == []


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_validates_strictly_against_the_pinned_kubernetes_schema(case) -> None:
    docs = render(case)
    assert of_kind(docs, "Deployment"), "nothing rendered"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kube_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc}")


@pytest.mark.parametrize("bad, field", [
    pytest.param({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", id="pull-policy"),
    pytest.param({"services": {"search": None}}, "invalid propertyName 'search'", id="unknown-service"),
    pytest.param({"locust": {"workers": 0}}, "/locust/workers", id="no-workers"),
    pytest.param({"prometheus": {"retention": "forever"}}, "/prometheus/retention", id="retention"),
    pytest.param({"grafana": {}}, "grafana", id="unknown-top-level-key"),
])
def test_the_values_schema_refuses_bad_values_naming_the_field(bad: dict, field: str) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as raised:
        chart.validate_schema(bad)
    assert field in str(raised.value)


def test_the_values_schema_describes_every_key_and_allows_no_other() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict, where: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{where} accepts unknown keys"
            for key, child in node["properties"].items():
                assert child.get("description"), f"{where}.{key} has no description"
                walk(child, f"{where}.{key}")
        for child in node.get("anyOf", []):
            walk(child, where)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{where}.*")
    walk(schema, "values")


# -- invariants -------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_selectors_hold_no_changing_label(case) -> None:
    for doc in render(case):
        spec = doc.get("spec", {})
        selector = spec.get("selector", {})
        labels = selector.get("matchLabels", selector) if doc["kind"] != "Job" else {}
        pod_selector = spec.get("podSelector", {}).get("matchLabels", {})
        for key in list(labels) + list(pod_selector):
            assert key not in CHANGING_LABELS, f"{doc['kind']}/{doc['metadata']['name']} selects on {key}"


@pytest.mark.parametrize("case", CASES)
def test_every_container_has_probes_resources_and_the_restricted_security_context(case) -> None:
    for where, spec in pod_specs(render(case)):
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] > 0, where
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in spec["containers"]:
            name = f"{where}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
            if not where.startswith("Pod/"):  # a helm test pod runs once; it has no probes to pass
                assert "readinessProbe" in container and "livenessProbe" in container, name


@pytest.mark.parametrize("case", CASES)
def test_each_hpa_targets_an_existing_deployment_and_a_served_metric(case) -> None:
    docs = render(case)
    deployments = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    series = re.compile(adapter.series_query().split('"')[1])
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) in {("Deployment", name) for name in deployments}
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Resource":
                assert metric["resource"]["name"] in METRICS_SERVER_RESOURCES
            else:
                assert metric["type"] == "Pods", f"{metric['type']} metrics are served by neither"
                assert series.fullmatch(metric["pods"]["metric"]["name"]), metric["pods"]["metric"]["name"]


@pytest.mark.parametrize("case", CASES)
def test_no_service_exposes_an_admin_api(case) -> None:
    ports = values_module.PORTS
    for service in of_kind(render(case), "Service"):
        for port in service["spec"]["ports"]:
            assert port["targetPort"] not in (ports["proxyAdmin"], "admin"), service["metadata"]["name"]
        if service["spec"].get("clusterIP") != "None":
            # the services' /admin lives on the app port: only the headless <name>-pods (Envoy's
            # discovery, inside the cluster) selects app pods, never a routable ClusterIP Service
            assert service["spec"]["selector"]["app.kubernetes.io/component"] != "app", service["metadata"]["name"]


def test_the_helm_test_hook_sends_one_request_through_every_service() -> None:
    pod = next(d for d in render(DEFAULT) if d["kind"] == "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["TAILSTORM_EXPECTED_HOPS"].split(",") == sorted(scenario_module.load_scenario("smoke").services)
    assert env["TAILSTORM_ENTRY_URL"] == "http://gateway:80"


def test_locust_workers_split_the_open_loop_rate() -> None:
    jobs = {d["metadata"]["name"]: d for d in of_kind(render(("ci", "locust-networkpolicy-values.yaml")), "Job")}
    workers = jobs["locust-worker-ci-7"]["spec"]
    assert workers["parallelism"] == workers["completions"] == 3
    for job in jobs.values():
        env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["TAILSTORM_DISPATCHERS"] == "3"


# -- Envoy: one renderer, two outputs --------------------------------------------------------------

def envoy_configs(case) -> dict[str, dict]:
    return {d["metadata"]["name"].removesuffix("-envoy"): yaml.safe_load(d["data"]["envoy.yaml"])
            for d in of_kind(render(case), "ConfigMap") if "envoy.yaml" in d.get("data", {})}


def without_addresses(config: dict) -> dict:
    """A bootstrap's listener and service cluster with addresses, ports and discovery left out."""
    resources = copy.deepcopy(config["static_resources"])
    listener = next(lst for lst in resources["listeners"] if lst["name"].endswith("_ingress"))
    listener.pop("address")
    service_cluster = next(c for c in resources["clusters"] if c["name"] != envoy_render.ADMIN_CLUSTER)
    for key in ("type", "eds_cluster_config", "load_assignment", "dns_lookup_family", "dns_refresh_rate",
                "respect_dns_ttl"):
        service_cluster.pop(key, None)
    return {"listener": listener, "cluster": service_cluster}


@pytest.mark.parametrize("name", [p.stem for p in CATALOG])
def test_each_envoy_configmap_equals_the_local_render_modulo_addresses(name: str, tmp_path) -> None:
    loaded = scenario_module.load_scenario(name)
    configs = envoy_configs(("scenario", name))
    assert sorted(configs) == sorted(loaded.services)
    for service, config in configs.items():
        local = envoy_render.render_bootstrap(service=service, listen_port=1, admin_port=2, eds_path=tmp_path / "e.yaml",
                                              envoy=loaded.envoy_for(service).model_dump())
        assert without_addresses(config) == without_addresses(local), service
        cluster = config["static_resources"]["clusters"][0]
        assert cluster["type"] == "STRICT_DNS"
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        assert address == {"address": f"{service}-pods", "port_value": values_module.APP_PORT}


def test_every_envoy_configmap_passes_envoy_validate(tmp_path) -> None:
    envoy = processes.find_binary("envoy", env_var="TAILSTORM_ENVOY", hint="make setup")
    distinct = {}
    for case in [DEFAULT] + [p.values[0] for p in CASES]:
        for service, config in envoy_configs(case).items():
            text = yaml.safe_dump(config, sort_keys=True)
            distinct[hashlib.sha256(text.encode()).hexdigest()] = (f"{case[1]}/{service}", text)
    for index, (where, text) in enumerate(distinct.values()):
        path = tmp_path / f"envoy-{index}.yaml"
        path.write_text(text)
        result = subprocess.run([envoy, "--mode", "validate", "-c", str(path), "--disable-hot-restart", "-l", "error"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{where}: {result.stdout}{result.stderr}"


# -- Prometheus ------------------------------------------------------------------------------------

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool comes with Prometheus: run `make setup`")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_the_charts_prometheus_config_and_rules_pass_promtool(tmp_path) -> None:
    configmap = next(d for d in render(DEFAULT) if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "prometheus")
    (tmp_path / "rules.yml").write_text(configmap["data"]["rules.yml"])
    config = yaml.safe_load(configmap["data"]["prometheus.yml"])
    config["rule_files"] = [str(tmp_path / "rules.yml")]
    for job in config["scrape_configs"]:
        sd = job.pop("kubernetes_sd_configs")
        assert sd == [{"role": "pod", "namespaces": {"names": ["tailstorm"]}}]
        # Debian's promtool is built without Kubernetes discovery ("field kubernetes_sd_configs not
        # found"): check everything else, relabelling included, with a static target in its place.
        job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


@needs_promtool
def test_every_adapter_and_dashboard_expression_parses_in_prometheus(tmp_path) -> None:
    placeholders = {"<<.Series>>": "tailstorm_requests_in_flight",
                    "<<.LabelMatchers>>": 'namespace="tailstorm",pod=~"inference-a|inference-b"', "<<.GroupBy>>": "pod"}
    adapter_queries = [rule["metricsQuery"] for rule in adapter.rules()] + \
                      [rule["seriesQuery"] for rule in adapter.rules()]
    expressions = dashboard.expressions()
    for query in adapter_queries:
        for placeholder, value in placeholders.items():
            query = query.replace(placeholder, value)
        expressions.append(query)
    rules = {"groups": [{"name": "parse", "rules": [{"record": f"parse:check_{i}", "expr": e}
                                                     for i, e in enumerate(expressions)]}]}
    (tmp_path / "parse.yml").write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(tmp_path / "parse.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(expressions)} rules found" in result.stdout


@needs_promtool
def test_a_broken_expression_fails_the_parse_check(tmp_path) -> None:
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(
        {"groups": [{"name": "bad", "rules": [{"record": "bad:x", "expr": "sum by (<<.GroupBy>>) (x)"}]}]}))
    assert promtool("check", "rules", str(tmp_path / "bad.yml")).returncode != 0


# -- generated parts in step -------------------------------------------------------------------------

def test_the_charts_generated_parts_are_in_step_with_their_sources() -> None:
    """Run `make chart-values` after changing a renderer, the rules, the dashboard or the smoke scenario."""
    text = (CHART / "values.yaml").read_text()
    assert text.count(values_module.GENERATED_MARKER) == 1
    assert text.split(values_module.GENERATED_MARKER)[1] == values_module.generated_values_text().split(
        values_module.GENERATED_MARKER)[1]
    for name, expected in values_module.generated_files().items():
        assert (CHART / name).read_text() == expected, f"{name} is stale: run `make chart-values`"


def test_every_catalog_pods_metric_is_served_by_the_adapter() -> None:
    for path in CATALOG:
        for spec in scenario_module.load_scenario(path).autoscaling.values():
            for metric in spec.metrics:
                if metric["type"] == "Pods":
                    assert metric["pods"]["metric"]["name"] in adapter.SERVED_METRICS, path.stem


def test_the_adapter_rule_is_the_local_autoscalers_promql() -> None:
    from controllers import autoscaling

    spec = scenario_module.load_scenario("chaos-spike").autoscaling["inference"]
    local = autoscaling.pods_metric_query(spec, "inference", "tailstorm_requests_in_flight")
    rule = adapter.metrics_query().replace("<<.Series>>", "tailstorm_requests_in_flight").replace(
        "<<.LabelMatchers>>", 'service="inference"').replace("<<.GroupBy>>", "pod")
    assert rule == f"sum by (pod) ({local})"
