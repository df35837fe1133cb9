"""The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) decision algorithm, as pure functions.

Modules mirror ``kubernetes/pkg/controller/podautoscaler`` so each can be read next to its upstream
file: :mod:`.replica_calculator` (``replica_calculator.go``), :mod:`.horizontal`
(``horizontal.go``), :mod:`.utilization` and :mod:`.metrics_client` (``metrics/``), :mod:`.defaults`
(``pkg/apis/autoscaling/v2/defaults.go``). :mod:`.codec` and :mod:`.cli` are the JSON decision
interface (``docs/hpa-decide.md``); :mod:`.replaying` feeds a recorded series through it.

Import modules, not names: ``from controllers.hpa import horizontal`` then ``horizontal.reconcile``.
"""
