"""The decision interface's wire format (``controllers/hpa/codec.py``), field by field.

``test_hpa_cli.py`` runs documents through the command; this module pins what each JSON field
becomes. We test these aspects:

- a document that sets every field decodes to exactly the state built by hand (every key, every
  default the API server would fill in, quantities in milli-units, times in UTC);
- the omitted optional fields take their documented defaults;
- every kind of bad input is refused with an ``InputError`` whose message is the field's path and
  the exact problem (the message is the interface: the CLI prints it as is);
- times (RFC3339 and epoch seconds), durations and the decision's encoding, memory in binary units.
"""
from __future__ import annotations

import copy
import datetime

import pytest

from controllers.hpa import api, codec, horizontal, replaying, settings

UTC = datetime.timezone.utc


def at(hour: int, minute: int, second: int = 0, microsecond: int = 0) -> datetime.datetime:
    return datetime.datetime(2024, 5, 1, hour, minute, second, microsecond, tzinfo=UTC)


FULL = {
    "now": "2024-05-01T12:00:00Z",
    "namespace": "shop",
    "currentReplicas": 3,
    "statusReplicas": 4,
    "controller": {
        "syncPeriodSeconds": 10, "tolerance": 0.05, "cpuInitializationPeriodSeconds": 120,
        "initialReadinessDelaySeconds": 20, "downscaleStabilizationSeconds": 60,
        "scaleUpLimitFactor": 3, "scaleUpLimitMinimum": 5,
    },
    "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}},
            {"type": "ContainerResource", "containerResource": {
                "name": "cpu", "container": "app", "target": {"type": "AverageValue", "averageValue": "250m"}}},
            {"type": "Pods", "pods": {"metric": {"name": "in_flight", "selector": {"matchLabels": {"tier": "gpu", "x": ""}}},
                                      "target": {"type": "AverageValue", "averageValue": "4"}}},
            {"type": "Object", "object": {
                "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
                "metric": {"name": "rps"}, "target": {"type": "Value", "value": "2k"}}},
            {"type": "External", "external": {
                "metric": {"name": "queue", "selector": {"matchExpressions": [
                    {"key": "q", "operator": "In", "values": ["a", ""]}, {"key": "z", "operator": "Exists"}]}},
                "target": {"type": "AverageValue", "averageValue": 30}}},
        ],
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 30, "selectPolicy": "Min",
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 20}], "tolerance": "0.05"},
            "scaleDown": {"selectPolicy": "Disabled", "tolerance": 0},
        },
    },
    "pods": [
        {"name": "web-0", "phase": "Running", "ready": {"status": "True", "lastTransitionTime": "2024-05-01T11:50:00Z"},
         "startTime": "2024-05-01T11:49:00+02:00",
         "containers": [{"name": "app", "requests": {"cpu": "500m", "memory": "1Gi"}}],
         "initContainers": [{"name": "proxy", "requests": {"cpu": "100m"}, "restartPolicy": "Always"}],
         "metrics": {"timestamp": "2024-05-01T11:59:45.25Z", "window": "1m30s",
                     "containers": [{"name": "app", "usage": {"cpu": "300m", "memory": "600Mi"}},
                                    {"name": "proxy", "usage": {"cpu": "20m"}}]}},
        {"name": "web-1", "phase": "Pending", "requests": {"cpu": 1}},
        {"name": "web-2", "phase": "Failed", "ready": {"status": "False", "lastTransitionTime": 1714564200},
         "deletionTimestamp": 1714564800.5},
    ],
    "podsMetrics": {"in_flight": {"timestamp": "2024-05-01T11:59:50Z", "values": {"web-0": "3500m"}, "windowSeconds": 15}},
    "objectMetrics": {"rps": {"timestamp": "2024-05-01T11:59:51Z", "value": "1800"}},
    "externalMetrics": {"queue": {"timestamp": "2024-05-01T11:59:52Z", "values": [10, "2.5"]}},
    "history": {
        "recommendations": [{"recommendation": 3, "timestamp": "2024-05-01T11:58:00Z"}],
        "scaleUpEvents": [{"replicaChange": 2, "timestamp": "2024-05-01T11:57:00Z", "outdated": True}],
        "scaleDownEvents": [{"replicaChange": 1, "timestamp": "2024-05-01T11:56:00Z"}],
    },
}


def expected_full_state() -> horizontal.HPAState:
    return horizontal.HPAState(
        spec=api.HorizontalPodAutoscalerSpec(
            max_replicas=10,
            min_replicas=2,
            metrics=(
                api.MetricSpec(type="Resource", resource=api.ResourceMetricSource(
                    "cpu", api.MetricTarget("Utilization", average_utilization=60))),
                api.MetricSpec(type="Resource", resource=api.ResourceMetricSource(
                    "memory", api.MetricTarget("AverageValue", average_value=512 * 2**20 * 1000))),
                api.MetricSpec(type="ContainerResource", container_resource=api.ContainerResourceMetricSource(
                    "cpu", "app", api.MetricTarget("AverageValue", average_value=250))),
                api.MetricSpec(type="Pods", pods=api.PodsMetricSource(
                    api.MetricIdentifier("in_flight", api.LabelSelector(match_labels=(("tier", "gpu"), ("x", "")))),
                    api.MetricTarget("AverageValue", average_value=4000))),
                api.MetricSpec(type="Object", object=api.ObjectMetricSource(
                    api.CrossVersionObjectReference("Ingress", "main", "networking.k8s.io/v1"),
                    api.MetricIdentifier("rps"), api.MetricTarget("Value", value=2_000_000))),
                api.MetricSpec(type="External", external=api.ExternalMetricSource(
                    api.MetricIdentifier("queue", api.LabelSelector(match_expressions=(
                        api.LabelSelectorRequirement("q", "In", ("a", "")), api.LabelSelectorRequirement("z", "Exists")))),
                    api.MetricTarget("AverageValue", average_value=30_000))),
            ),
            # the API server's defaulting fills what the behavior block leaves out
            behavior=api.HorizontalPodAutoscalerBehavior(
                scale_up=api.HPAScalingRules(30, "Min", (api.HPAScalingPolicy("Pods", 2, 20),), 0.05),
                scale_down=api.HPAScalingRules(None, "Disabled", (api.HPAScalingPolicy("Percent", 100, 15),), 0.0),
            ),
        ),
        current_replicas=3,
        now=at(12, 0),
        status_replicas=4,
        pods=(
            api.Pod("web-0", "Running", api.PodCondition("True", at(11, 50)), at(9, 49), None,
                    (api.Container("app", {"cpu": 500, "memory": 2**30 * 1000}),),
                    (api.Container("proxy", {"cpu": 100}, "Always"),), None),
            api.Pod("web-1", "Pending", requests={"cpu": 1000}),
            api.Pod("web-2", "Failed", api.PodCondition("False", at(11, 50)),
                    deletion_timestamp=at(12, 0, 0, 500_000)),
        ),
        metrics=api.MetricsSnapshot(
            resource=(api.PodMetrics("web-0", at(11, 59, 45, 250_000), 90.0, (
                api.ContainerMetrics("app", {"cpu": 300, "memory": 600 * 2**20 * 1000}),
                api.ContainerMetrics("proxy", {"cpu": 20}))),),
            pods={"in_flight": api.PodsMetricValues(at(11, 59, 50), (("web-0", 3500),), 15.0)},
            object={"rps": api.ObjectMetricValue(at(11, 59, 51), 1_800_000)},
            external={"queue": api.ExternalMetricValues(at(11, 59, 52), (10_000, 2500))},
        ),
        history=api.History(
            recommendations=(api.TimestampedRecommendation(3, at(11, 58)),),
            scale_up_events=(api.TimestampedScaleEvent(2, at(11, 57), True),),
            scale_down_events=(api.TimestampedScaleEvent(1, at(11, 56), False),),
        ),
        controller=settings.ControllerSettings(10.0, 0.05, 120.0, 20.0, 60, 3.0, 5.0),
        namespace="shop",
    )


def test_a_document_setting_every_field_decodes_to_exactly_that_state() -> None:
    decoded = codec.decode_state(copy.deepcopy(FULL))
    expected = expected_full_state()
    for field in ("spec", "current_replicas", "now", "status_replicas", "pods", "metrics", "history", "controller",
                  "namespace"):
        assert getattr(decoded, field) == getattr(expected, field), field
    assert isinstance(decoded.controller.downscale_stabilization_seconds, int)


def test_omitted_fields_take_the_documented_defaults() -> None:
    decoded = codec.decode_state({"now": 0, "currentReplicas": 0, "spec": {"maxReplicas": 1}})
    assert decoded == horizontal.HPAState(
        spec=api.HorizontalPodAutoscalerSpec(max_replicas=1, min_replicas=None, metrics=codec.DEFAULT_METRICS, behavior=None),
        current_replicas=0,
        now=codec.EPOCH,
        status_replicas=None,
    )
    assert codec.DEFAULT_METRICS == (api.MetricSpec(type="Resource", resource=api.ResourceMetricSource(
        "cpu", api.MetricTarget("Utilization", average_utilization=80))),)
    assert decoded.controller == settings.ControllerSettings()
    assert decoded.namespace == "default"
    assert decoded.history == api.History(recommendations=None)


def test_a_pod_without_optional_fields_is_running_with_no_condition_times_or_requests() -> None:
    decoded = codec.decode_state({"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}, "pods": [{"name": "p"}]})
    assert decoded.pods == (api.Pod("p", "Running", None, None, None, (), (), None),)
    assert decoded.metrics.resource == ()


def test_replay_decodes_the_start_state_and_each_sync_keeping_unset_fields_unset() -> None:
    start, syncs = codec.decode_replay({
        "start": {"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 3}},
        "syncs": [
            {},
            {"now": 30, "currentReplicas": 2, "statusReplicas": 2,
             "pods": [{"name": "a", "metrics": {"timestamp": 25, "window": 15, "containers": []}}, {"name": "b"}],
             "podsMetrics": {"m": {"timestamp": 25, "values": {"a": 1}}},
             "objectMetrics": {"o": {"timestamp": 25, "value": 2}},
             "externalMetrics": {"e": {"timestamp": 25, "values": [3]}}},
        ],
    })
    assert start.spec.max_replicas == 3
    epoch = codec.EPOCH
    assert syncs == [
        replaying.SyncObservation(),
        replaying.SyncObservation(
            now=epoch + datetime.timedelta(seconds=30), current_replicas=2, status_replicas=2,
            pods=(api.Pod("a"), api.Pod("b")),
            resource_metrics=(api.PodMetrics("a", epoch + datetime.timedelta(seconds=25), 15.0, ()),),
            pods_metrics={"m": api.PodsMetricValues(epoch + datetime.timedelta(seconds=25), (("a", 1000),))},
            object_metrics={"o": api.ObjectMetricValue(epoch + datetime.timedelta(seconds=25), 2000)},
            external_metrics={"e": api.ExternalMetricValues(epoch + datetime.timedelta(seconds=25), (3000,))},
        ),
    ]


def with_change(path: tuple, value: object = None, *, delete: bool = False) -> dict:
    document = copy.deepcopy(FULL)
    node = document
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


M = ("spec", "metrics")
POD0 = ("pods", 0)
BAD_INPUTS = [
    # shape of the document
    (["not", "an", "object"], "input: must be an object, got an array"),
    (with_change(("spec",), delete=True), "spec: is required"),
    (with_change(("now",), None), "now: is required"),
    (with_change(("colour",), "red"),
     "colour: unknown field (known here: controller, currentReplicas, externalMetrics, history, namespace, now, "
     "objectMetrics, pods, podsMetrics, spec, statusReplicas)"),
    # scalars
    (with_change(("currentReplicas",), -1), "currentReplicas: must be at least 0, got -1"),
    (with_change(("currentReplicas",), 1.5), "currentReplicas: must be an integer, got 1.5"),
    (with_change(("currentReplicas",), True), "currentReplicas: must be an integer, got true"),
    (with_change(("currentReplicas",), "3"), "currentReplicas: must be an integer, got '3'"),
    (with_change(("currentReplicas",), float("inf")), "currentReplicas: must be an integer, got inf"),
    (with_change(("statusReplicas",), -2), "statusReplicas: must be at least 0, got -2"),
    (with_change(("namespace",), ""), "namespace: must be a non-empty string, got ''"),
    (with_change(("namespace",), None), "namespace: must be a non-empty string, got null"),
    (with_change(("now",), "yesterday"),
     'now: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'yesterday\''),
    (with_change(("now",), "2024-02-30T12:00:00Z"), "now: is not a valid time: day is out of range for month"),
    (with_change(("now",), {}), 'now: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got an object'),
    # controller
    (with_change(("controller", "tolerance"), -0.1), "controller.tolerance: must be at least 0, got -0.1"),
    (with_change(("controller", "tolerance"), "0.1"), "controller.tolerance: must be a number, got '0.1'"),
    (with_change(("controller", "tolerance"), False), "controller.tolerance: must be a number, got false"),
    (with_change(("controller", "tolerance"), float("nan")), "controller.tolerance: must be a number, got nan"),
    (with_change(("controller", "syncPeriodSeconds"), 0), "controller.syncPeriodSeconds: must be positive"),
    (with_change(("controller", "downscaleStabilizationSeconds"), 1.5),
     "controller.downscaleStabilizationSeconds: must be an integer, got 1.5"),
    # spec
    (with_change(("spec", "maxReplicas"), 0), "spec.maxReplicas: must be a positive integer, got 0"),
    (with_change(("spec", "minReplicas"), 11), "spec.minReplicas: must be less than or equal to maxReplicas (10)"),
    (with_change(("spec", "minReplicas"), -1), "spec.minReplicas: must be at least 0, got -1"),
    (with_change(("spec",), {"maxReplicas": 3, "minReplicas": 0, "metrics": [FULL["spec"]["metrics"][0]]}),
     "spec.minReplicas: 0 is only allowed with at least one Object or External metric (HPAScaleToZero)"),
    (with_change(M, {}), "spec.metrics: must be an array, got an object"),
    (with_change(M + (0, "type"), "Cpu"), "spec.metrics[0].type: must be one of Resource, ContainerResource, Pods, "
                                           "Object, External; got 'Cpu'"),
    (with_change(M + (0, "pods"), {}), "spec.metrics[0].pods: must not be set for type Resource"),
    (with_change(M + (0, "resource"), None), "spec.metrics[0].resource: is required for type Resource"),
    (with_change(M + (0, "resource", "name"), 5), "spec.metrics[0].resource.name: must be a non-empty string, got 5"),
    (with_change(M + (0, "resource", "target", "averageUtilization"), 0),
     "spec.metrics[0].resource.target.averageUtilization: must be a positive integer, got 0"),
    (with_change(M + (0, "resource", "target", "value"), 5),
     "spec.metrics[0].resource.target.value: must not be set for type Utilization (set averageUtilization)"),
    (with_change(M + (0, "resource", "target", "averageUtilization"), None),
     "spec.metrics[0].resource.target.averageUtilization: is required for type Utilization"),
    (with_change(M + (0, "resource", "target", "type"), "Value"),
     "spec.metrics[0].resource.target.type: must be one of Utilization, AverageValue; got 'Value'"),
    (with_change(M + (1, "resource", "target", "averageValue"), "0"),
     "spec.metrics[1].resource.target.averageValue: must be positive, got '0'"),
    (with_change(M + (1, "resource", "target", "averageValue"), "-5"),
     "spec.metrics[1].resource.target.averageValue: must be positive, got '-5'"),
    (with_change(M + (1, "resource", "target", "averageValue"), "lots"),
     "spec.metrics[1].resource.target.averageValue: 'lots' is not a quantity (examples: 500m, 2, 1.5, 256Mi, 1e3)"),
    (with_change(M + (1, "resource", "target", "averageValue"), [1]),
     'spec.metrics[1].resource.target.averageValue: must be a quantity such as "500m" or 2, got an array'),
    (with_change(M + (1, "resource", "target", "averageValue"), True),
     'spec.metrics[1].resource.target.averageValue: must be a quantity such as "500m" or 2, got true'),
    (with_change(M + (2, "containerResource", "container"), ""),
     "spec.metrics[2].containerResource.container: must be a non-empty string, got ''"),
    (with_change(M + (3, "pods", "target", "type"), "Utilization"),
     "spec.metrics[3].pods.target.type: must be one of AverageValue; got 'Utilization'"),
    (with_change(M + (3, "pods", "metric", "name"), ""), "spec.metrics[3].pods.metric.name: must be a non-empty string, got ''"),
    (with_change(M + (3, "pods", "metric", "selector", "matchLabels", "tier"), 1),
     "spec.metrics[3].pods.metric.selector.matchLabels.tier: must be a non-empty string, got 1"),
    (with_change(M + (4, "object", "describedObject", "kind"), ""),
     "spec.metrics[4].object.describedObject.kind: must be a non-empty string, got ''"),
    (with_change(M + (4, "object", "describedObject", "name"), None),
     "spec.metrics[4].object.describedObject.name: is required"),
    (with_change(M + (4, "object", "target", "type"), "Utilization"),
     "spec.metrics[4].object.target.type: must be one of Value, AverageValue; got 'Utilization'"),
    (with_change(M + (5, "external", "metric", "selector", "matchExpressions", 0, "operator"), "Like"),
     "spec.metrics[5].external.metric.selector.matchExpressions[0].operator: must be one of In, NotIn, Exists, "
     "DoesNotExist; got 'Like'"),
    (with_change(M + (5, "external", "metric", "selector", "matchExpressions", 0, "key"), ""),
     "spec.metrics[5].external.metric.selector.matchExpressions[0].key: must be a non-empty string, got ''"),
    (with_change(M + (5, "external", "metric", "selector", "matchExpressions", 0, "values"), ["a", 2]),
     "spec.metrics[5].external.metric.selector.matchExpressions[0].values[1]: must be a non-empty string, got 2"),
    (with_change(M + (5, "external", "target", "type"), "Utilization"),
     "spec.metrics[5].external.target.type: must be one of Value, AverageValue; got 'Utilization'"),
    # behavior
    (with_change(("spec", "behavior", "scaleUp", "policies"), []),
     "spec.behavior.scaleUp.policies: must specify at least one Policy"),
    (with_change(("spec", "behavior", "scaleUp", "tolerance"), "-1"), "spec.behavior.scaleUp.tolerance: must not be negative"),
    (with_change(("spec", "behavior", "scaleUp", "stabilizationWindowSeconds"), 3601),
     "spec.behavior.scaleUp.stabilizationWindowSeconds: must be at most 3600, got 3601"),
    (with_change(("spec", "behavior", "scaleUp", "stabilizationWindowSeconds"), -1),
     "spec.behavior.scaleUp.stabilizationWindowSeconds: must be at least 0, got -1"),
    (with_change(("spec", "behavior", "scaleDown", "selectPolicy"), "Most"),
     "spec.behavior.scaleDown.selectPolicy: must be one of Max, Min, Disabled; got 'Most'"),
    (with_change(("spec", "behavior", "scaleUp", "policies", 0, "type"), "Replicas"),
     "spec.behavior.scaleUp.policies[0].type: must be one of Pods, Percent; got 'Replicas'"),
    (with_change(("spec", "behavior", "scaleUp", "policies", 0, "value"), 0),
     "spec.behavior.scaleUp.policies[0].value: must be a positive integer, got 0"),
    (with_change(("spec", "behavior", "scaleUp", "policies", 0, "periodSeconds"), 1801),
     "spec.behavior.scaleUp.policies[0].periodSeconds: must be at most 1800, got 1801"),
    (with_change(("spec", "behavior", "scaleUp", "policies", 0, "periodSeconds"), 0),
     "spec.behavior.scaleUp.policies[0].periodSeconds: must be a positive integer, got 0"),
    # pods
    (with_change(("pods",), [{"name": "a"}, {"name": "b"}, {"name": "a"}]), "pods[2].name: duplicate name 'a'"),
    (with_change(POD0 + ("phase",), "Running "),
     "pods[0].phase: must be one of Pending, Running, Succeeded, Failed, Unknown; got 'Running '"),
    (with_change(POD0 + ("ready", "status"), "Yes"), "pods[0].ready.status: must be one of True, False, Unknown; got 'Yes'"),
    (with_change(POD0 + ("ready", "lastTransitionTime"), None), "pods[0].ready.lastTransitionTime: is required"),
    (with_change(POD0 + ("startTime",), "noon"),
     'pods[0].startTime: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'noon\''),
    (with_change(POD0 + ("initContainers", 0, "restartPolicy"), "OnFailure"),
     "pods[0].initContainers[0].restartPolicy: must be one of Always; got 'OnFailure'"),
    (with_change(POD0 + ("containers", 0, "requests", "cpu"), "1 core"),
     "pods[0].containers[0].requests.cpu: '1 core' is not a quantity (examples: 500m, 2, 1.5, 256Mi, 1e3)"),
    (with_change(POD0 + ("metrics", "window"), "15 s"),
     'pods[0].metrics.window: must be seconds or a duration such as "30s", got \'15 s\''),
    (with_change(POD0 + ("metrics", "window"), -1), 'pods[0].metrics.window: must be seconds or a duration such as "30s", got -1'),
    (with_change(POD0 + ("metrics", "window"), ""), 'pods[0].metrics.window: must be seconds or a duration such as "30s", got \'\''),
    (with_change(POD0 + ("metrics", "containers", 1, "usage"), None), "pods[0].metrics.containers[1].usage: is required"),
    # metric values and history
    (with_change(("podsMetrics", "in_flight", "values", "web-0"), "x"),
     "podsMetrics.in_flight.values.web-0: 'x' is not a quantity (examples: 500m, 2, 1.5, 256Mi, 1e3)"),
    (with_change(("podsMetrics", "in_flight", "windowSeconds"), -1), "podsMetrics.in_flight.windowSeconds: must be at least 0, got -1"),
    (with_change(("objectMetrics", "rps"), []), "objectMetrics.rps: must be an object, got an array"),
    (with_change(("externalMetrics", "queue", "values"), "10"), "externalMetrics.queue.values: must be an array, got '10'"),
    (with_change(("history", "recommendations", 0, "recommendation"), -1),
     "history.recommendations[0].recommendation: must be at least 0, got -1"),
    (with_change(("history", "scaleUpEvents", 0, "outdated"), "yes"), "history.scaleUpEvents[0].outdated: must be true or false, got 'yes'"),
    (with_change(("history", "scaleDownEvents", 0, "replicaChange"), -3),
     "history.scaleDownEvents[0].replicaChange: must be at least 0, got -3"),
]


@pytest.mark.parametrize("document, message", BAD_INPUTS, ids=[m.split(":")[0] for _, m in BAD_INPUTS])
def test_bad_input_is_refused_with_the_fields_path_and_the_exact_problem(document, message: str) -> None:
    with pytest.raises(codec.InputError) as raised:
        codec.decode_state(document)
    assert str(raised.value) == message
    path, _, problem = message.partition(": ")
    assert (raised.value.path or "input", raised.value.problem) == (path, problem)


@pytest.mark.parametrize("document, message", [
    ({"start": {"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}}}, "syncs: is required"),
    ({"start": {"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}}, "syncs": [{"pods": [{"name": ""}]}]},
     "syncs[0].pods[0].name: must be a non-empty string, got ''"),
    ({"start": {"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}}, "syncs": [{"currentReplicas": -1}]},
     "syncs[0].currentReplicas: must be at least 0, got -1"),
    ({"start": {"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}}, "syncs": [{"spec": {}}]},
     "syncs[0].spec: unknown field (known here: currentReplicas, externalMetrics, now, objectMetrics, pods, "
     "podsMetrics, statusReplicas)"),
])
def test_bad_replay_input_is_refused_with_the_syncs_path(document, message: str) -> None:
    with pytest.raises(codec.InputError) as raised:
        codec.decode_replay(document)
    assert str(raised.value) == message


@pytest.mark.parametrize("text, expected", [
    ("2024-05-01T12:00:00Z", at(12, 0)),
    ("2024-05-01t12:00:00z", at(12, 0)),
    ("2024-05-01T14:30:00+02:30", at(12, 0)),
    ("2024-05-01T12:00:00.123456789Z", at(12, 0, 0, 123456)),
    ("2024-05-01T12:00:00.5-01:00", at(13, 0, 0, 500000)),
    (1714564800, at(12, 0)),
    (1714564800.000001, at(12, 0, 0, 1)),
    (0.1, codec.EPOCH + datetime.timedelta(microseconds=100_000)),
])
def test_times_are_rfc3339_in_any_zone_or_epoch_seconds_and_come_back_in_utc(text, expected) -> None:
    decoded = codec._time(text, "t")
    assert decoded == expected
    assert decoded.tzinfo == UTC


@pytest.mark.parametrize("text, seconds", [
    (15, 15.0), (0, 0.0), (2.5, 2.5), ("15s", 15.0), ("1m0s", 60.0), ("1h2m3s", 3723.0), ("15.012s", 15.012),
    ("1500ms", 1.5), ("250us", 0.00025), ("250µs", 0.00025), ("30ns", 3e-8), (".5h", 1800.0), ("2.m", 120.0),
])
def test_windows_are_seconds_or_go_durations(text, seconds: float) -> None:
    assert codec._seconds(text, "w") == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("moment, text", [
    (at(12, 0), "2024-05-01T12:00:00Z"),
    (at(12, 0, 5, 250000), "2024-05-01T12:00:05.25Z"),
    (at(12, 0, 5, 1), "2024-05-01T12:00:05.000001Z"),
    (datetime.datetime(2024, 5, 1, 14, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), "2024-05-01T12:00:00Z"),
])
def test_times_are_written_in_utc_with_fractions_only_when_present(moment, text: str) -> None:
    assert codec.format_time(moment) == text


@pytest.mark.parametrize("camel, snake", [("resource", "resource"), ("containerResource", "container_resource"),
                                          ("describedObject", "described_object"), ("aBC", "a_b_c")])
def test_camel_case_source_keys_map_to_snake_case_fields(camel: str, snake: str) -> None:
    assert codec._snake(camel) == snake


def test_a_decision_is_encoded_with_every_field_and_memory_in_binary_units() -> None:
    decision = horizontal.Decision(
        current_replicas=3,
        desired_replicas=5,
        rescale=True,
        rescale_reason="memory resource above target",
        metrics=(
            api.MetricProposal(type="Resource", metric="memory", replicas=5, timestamp=at(11, 59, 45, 250000),
                               current=api.MetricValueStatus(average_value=600 * 2**20 * 1000,
                                                             average_utilization=58), resource="memory"),
            api.MetricProposal(type="Object", metric="rps", replicas=4, timestamp=None,
                               current=api.MetricValueStatus(value=1_500_000, average_value=2048 * 1000), resource=None),
            api.MetricProposal(type="Pods", metric="in_flight", replicas=2, timestamp=at(12, 0)),
            api.MetricProposal(type="External", metric="queue", reason="FailedGetExternalMetric", error="unable to get"),
        ),
        conditions=(api.Condition("AbleToScale", "True", "SucceededRescale", "the HPA controller was able to update"),),
        history=api.History(
            recommendations=(api.TimestampedRecommendation(5, at(12, 0)),),
            scale_up_events=(api.TimestampedScaleEvent(2, at(12, 0), False),),
            scale_down_events=(api.TimestampedScaleEvent(1, at(11, 0), True),),
        ),
        error=None,
    )
    assert codec.encode_decision(decision) == {
        "currentReplicas": 3,
        "desiredReplicas": 5,
        "rescale": True,
        "rescaleReason": "memory resource above target",
        "metrics": [
            {"type": "Resource", "metric": "memory", "replicas": 5, "timestamp": "2024-05-01T11:59:45.25Z",
             "current": {"averageUtilization": 58, "averageValue": "600Mi"}},
            {"type": "Object", "metric": "rps", "replicas": 4, "timestamp": None,
             "current": {"averageValue": "2048", "value": "1500"}},
            {"type": "Pods", "metric": "in_flight", "replicas": 2, "timestamp": "2024-05-01T12:00:00Z"},
            {"type": "External", "metric": "queue", "reason": "FailedGetExternalMetric", "error": "unable to get"},
        ],
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                        "message": "the HPA controller was able to update"}],
        "history": {
            "recommendations": [{"recommendation": 5, "timestamp": "2024-05-01T12:00:00Z"}],
            "scaleUpEvents": [{"replicaChange": 2, "timestamp": "2024-05-01T12:00:00Z", "outdated": False}],
            "scaleDownEvents": [{"replicaChange": 1, "timestamp": "2024-05-01T11:00:00Z", "outdated": True}],
        },
        "error": None,
    }


def test_history_without_recommendations_encodes_them_as_null() -> None:
    assert codec.encode_history(api.History()) == {"recommendations": None, "scaleUpEvents": [], "scaleDownEvents": []}


# Every nested decoder names its own path, whether the value is not an object or has an unknown key.
S = ("spec",)
NESTED_BAD_INPUTS = [
    (with_change(S, []), "spec: must be an object, got an array"),
    (with_change(S + ("replicas",), 3),
     "spec.replicas: unknown field (known here: behavior, maxReplicas, metrics, minReplicas, scaleTargetRef)"),
    (with_change(("controller",), []), "controller: must be an object, got an array"),
    (with_change(("controller", "period"), 3),
     "controller.period: unknown field (known here: cpuInitializationPeriodSeconds, downscaleStabilizationSeconds, "
     "initialReadinessDelaySeconds, scaleUpLimitFactor, scaleUpLimitMinimum, syncPeriodSeconds, tolerance)"),
    (with_change(M + (0,), "cpu"), "spec.metrics[0]: must be an object, got 'cpu'"),
    (with_change(M + (0, "target"), 1),
     "spec.metrics[0].target: unknown field (known here: containerResource, external, object, pods, resource, type)"),
    (with_change(M + (0, "resource"), []), "spec.metrics[0].resource: must be an object, got an array"),
    (with_change(M + (0, "resource", "target"), []), "spec.metrics[0].resource.target: must be an object, got an array"),
    (with_change(M + (0, "resource", "target", "max"), 1),
     "spec.metrics[0].resource.target.max: unknown field (known here: averageUtilization, averageValue, type, value)"),
    (with_change(M + (2, "containerResource"), []), "spec.metrics[2].containerResource: must be an object, got an array"),
    (with_change(M + (2, "containerResource", "name"), ""),
     "spec.metrics[2].containerResource.name: must be a non-empty string, got ''"),
    (with_change(M + (2, "containerResource", "target", "type"), "Value"),
     "spec.metrics[2].containerResource.target.type: must be one of Utilization, AverageValue; got 'Value'"),
    (with_change(M + (3, "pods"), []), "spec.metrics[3].pods: must be an object, got an array"),
    (with_change(M + (3, "pods", "metric"), "qps"), "spec.metrics[3].pods.metric: must be an object, got 'qps'"),
    (with_change(M + (3, "pods", "metric", "labels"), {}),
     "spec.metrics[3].pods.metric.labels: unknown field (known here: name, selector)"),
    (with_change(M + (3, "pods", "metric", "selector"), []),
     "spec.metrics[3].pods.metric.selector: must be an object, got an array"),
    (with_change(M + (3, "pods", "metric", "selector", "labels"), {}),
     "spec.metrics[3].pods.metric.selector.labels: unknown field (known here: matchExpressions, matchLabels)"),
    (with_change(M + (3, "pods", "metric", "selector", "matchLabels"), []),
     "spec.metrics[3].pods.metric.selector.matchLabels: must be an object, got an array"),
    (with_change(M + (4, "object"), []), "spec.metrics[4].object: must be an object, got an array"),
    (with_change(M + (4, "object", "describedObject", "namespace"), "x"),
     "spec.metrics[4].object.describedObject.namespace: unknown field (known here: apiVersion, kind, name)"),
    (with_change(M + (4, "object", "describedObject", "name"), ""),
     "spec.metrics[4].object.describedObject.name: must be a non-empty string, got ''"),
    (with_change(M + (4, "object", "describedObject", "apiVersion"), 1),
     "spec.metrics[4].object.describedObject.apiVersion: must be a non-empty string, got 1"),
    (with_change(M + (4, "object", "metric", "name"), ""), "spec.metrics[4].object.metric.name: must be a non-empty string, got ''"),
    (with_change(M + (5, "external"), []), "spec.metrics[5].external: must be an object, got an array"),
    (with_change(M + (5, "external", "metric", "selector", "matchExpressions", 0), "q in (a)"),
     "spec.metrics[5].external.metric.selector.matchExpressions[0]: must be an object, got 'q in (a)'"),
    (with_change(M + (5, "external", "metric", "selector", "matchExpressions", 0, "value"), "a"),
     "spec.metrics[5].external.metric.selector.matchExpressions[0].value: unknown field (known here: key, operator, values)"),
    (with_change(S + ("behavior",), []), "spec.behavior: must be an object, got an array"),
    (with_change(S + ("behavior", "scaleSideways"), {}),
     "spec.behavior.scaleSideways: unknown field (known here: scaleDown, scaleUp)"),
    (with_change(S + ("behavior", "scaleUp"), []), "spec.behavior.scaleUp: must be an object, got an array"),
    (with_change(S + ("behavior", "scaleUp", "window"), 1),
     "spec.behavior.scaleUp.window: unknown field (known here: policies, selectPolicy, stabilizationWindowSeconds, tolerance)"),
    (with_change(S + ("behavior", "scaleUp", "tolerance"), []),
     'spec.behavior.scaleUp.tolerance: must be a quantity such as "500m" or 2, got an array'),
    (with_change(S + ("behavior", "scaleUp", "policies", 0), "4 pods"),
     "spec.behavior.scaleUp.policies[0]: must be an object, got '4 pods'"),
    (with_change(POD0 + ("deletionTimestamp",), "soon"),
     'pods[0].deletionTimestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'soon\''),
    (with_change(("pods", 1, "requests"), []), "pods[1].requests: must be an object, got an array"),
    (with_change(POD0 + ("ready", "lastTransitionTime"), "then"),
     'pods[0].ready.lastTransitionTime: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'then\''),
    (with_change(POD0 + ("containers", 0), "app"), "pods[0].containers[0]: must be an object, got 'app'"),
    (with_change(POD0 + ("containers", 0, "image"), "x"),
     "pods[0].containers[0].image: unknown field (known here: name, requests, restartPolicy)"),
    (with_change(POD0 + ("containers", 0, "name"), ""), "pods[0].containers[0].name: must be a non-empty string, got ''"),
    (with_change(POD0 + ("containers", 0, "requests"), []), "pods[0].containers[0].requests: must be an object, got an array"),
    (with_change(POD0 + ("metrics",), []), "pods[0].metrics: must be an object, got an array"),
    (with_change(POD0 + ("metrics", "timestamp"), "now"),
     'pods[0].metrics.timestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'now\''),
    (with_change(POD0 + ("metrics", "containers", 0, "name"), ""),
     "pods[0].metrics.containers[0].name: must be a non-empty string, got ''"),
    (with_change(POD0 + ("metrics", "containers", 0, "usage"), []),
     "pods[0].metrics.containers[0].usage: must be an object, got an array"),
    (with_change(("podsMetrics",), []), "podsMetrics: must be an object, got an array"),
    (with_change(("podsMetrics", "in_flight"), []), "podsMetrics.in_flight: must be an object, got an array"),
    (with_change(("podsMetrics", "in_flight", "window"), 1),
     "podsMetrics.in_flight.window: unknown field (known here: timestamp, values, windowSeconds)"),
    (with_change(("podsMetrics", "in_flight", "values"), []), "podsMetrics.in_flight.values: must be an object, got an array"),
    (with_change(("podsMetrics", "in_flight", "timestamp"), "x"),
     'podsMetrics.in_flight.timestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'x\''),
    (with_change(("objectMetrics", "rps", "timestamp"), "x"),
     'objectMetrics.rps.timestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'x\''),
    (with_change(("objectMetrics", "rps", "value"), "x"),
     "objectMetrics.rps.value: 'x' is not a quantity (examples: 500m, 2, 1.5, 256Mi, 1e3)"),
    (with_change(("externalMetrics", "queue"), []), "externalMetrics.queue: must be an object, got an array"),
    (with_change(("externalMetrics", "queue", "timestamp"), "x"),
     'externalMetrics.queue.timestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'x\''),
    (with_change(("history",), []), "history: must be an object, got an array"),
    (with_change(("history", "events"), []),
     "history.events: unknown field (known here: recommendations, scaleDownEvents, scaleUpEvents)"),
    (with_change(("history", "recommendations", 0), 3), "history.recommendations[0]: must be an object, got 3"),
    (with_change(("history", "recommendations", 0, "timestamp"), "x"),
     'history.recommendations[0].timestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'x\''),
    (with_change(("history", "scaleUpEvents", 0), 2), "history.scaleUpEvents[0]: must be an object, got 2"),
    (with_change(("history", "scaleUpEvents", 0, "change"), 2),
     "history.scaleUpEvents[0].change: unknown field (known here: outdated, replicaChange, timestamp)"),
    (with_change(("history", "scaleDownEvents", 0, "timestamp"), "x"),
     'history.scaleDownEvents[0].timestamp: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'x\''),
]


@pytest.mark.parametrize("document, message", NESTED_BAD_INPUTS, ids=[m.split(":")[0] for _, m in NESTED_BAD_INPUTS])
def test_each_nested_decoder_reports_its_own_path(document, message: str) -> None:
    with pytest.raises(codec.InputError) as raised:
        codec.decode_state(document)
    assert str(raised.value) == message


REPLAY_START = {"now": 0, "currentReplicas": 1, "spec": {"maxReplicas": 1}}


@pytest.mark.parametrize("sync, message", [
    ({"now": "x"}, 'syncs[0].now: must be an RFC3339 time such as "2024-05-01T12:00:00Z" or epoch seconds, got \'x\''),
    ({"statusReplicas": -1}, "syncs[0].statusReplicas: must be at least 0, got -1"),
    ({"podsMetrics": []}, "syncs[0].podsMetrics: must be an object, got an array"),
    ({"podsMetrics": {"m": []}}, "syncs[0].podsMetrics.m: must be an object, got an array"),
    ({"objectMetrics": []}, "syncs[0].objectMetrics: must be an object, got an array"),
    ({"externalMetrics": []}, "syncs[0].externalMetrics: must be an object, got an array"),
])
def test_each_sync_of_a_replay_reports_its_own_path(sync, message: str) -> None:
    with pytest.raises(codec.InputError) as raised:
        codec.decode_replay({"start": REPLAY_START, "syncs": [sync]})
    assert str(raised.value) == message


def test_values_on_the_edge_of_each_range_are_accepted() -> None:
    document = copy.deepcopy(FULL)
    document["spec"]["minReplicas"] = 10
    document["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] = 3600
    document["spec"]["behavior"]["scaleUp"]["policies"][0]["periodSeconds"] = 1800
    document["spec"]["metrics"][1]["resource"]["target"]["averageValue"] = "1m"
    document["controller"]["downscaleStabilizationSeconds"] = 0
    del document["spec"]["metrics"][4]["object"]["describedObject"]["apiVersion"]
    document["pods"][1]["requests"] = {"cpu": "0"}
    document["pods"][0]["containers"].append({"name": "sidecar"})
    state = codec.decode_state(document)
    assert state.spec.min_replicas == 10
    assert state.spec.behavior.scale_up.stabilization_window_seconds == 3600
    assert state.spec.behavior.scale_up.policies[0].period_seconds == 1800
    assert state.spec.metrics[1].resource.target.average_value == 1
    assert state.controller.downscale_stabilization_seconds == 0
    assert state.spec.metrics[4].object.described_object.api_version == ""
    assert state.pods[1].requests == {"cpu": 0}
    assert state.pods[0].containers[1] == api.Container("sidecar", {}, None)
    document["spec"]["metrics"][4]["object"]["describedObject"]["apiVersion"] = ""
    assert codec.decode_state(document).spec.metrics[4].object.described_object.api_version == ""


def test_times_come_back_in_utc_whatever_the_machines_time_zone(monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        decoded = codec._time("2024-05-01T21:00:00+09:00", "t")
        assert (decoded, decoded.utcoffset()) == (at(12, 0), datetime.timedelta(0))
        tokyo = datetime.datetime(2024, 5, 1, 21, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9)))
        assert codec.format_time(tokyo) == "2024-05-01T12:00:00Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
