"""API defaulting of ``spec.behavior``, as ``pkg/apis/autoscaling/v2/defaults.go`` does it.

An HPA without ``behavior`` keeps ``behavior: nil`` and runs the legacy normalisation. As soon as any
part of ``behavior`` is set, the API server fills every missing field from the defaults below; a
user ``policies`` list replaces the default list entirely. The scale-down window stays unset here:
the controller fills it from ``--horizontal-pod-autoscaler-downscale-stabilization``
(``maybeInitScaleDownStabilizationWindow``).
"""
from __future__ import annotations

import dataclasses

from controllers.hpa import api

DEFAULT_SCALE_UP_RULES = api.HPAScalingRules(
    stabilization_window_seconds=0,
    select_policy=api.MAX_CHANGE,
    policies=(
        api.HPAScalingPolicy(type=api.PODS_POLICY, value=4, period_seconds=15),
        api.HPAScalingPolicy(type=api.PERCENT_POLICY, value=100, period_seconds=15),
    ),
)
"""``defaultHPAScaleUpRules``: no window; +4 pods or +100 % per 15 s, whichever is more."""

DEFAULT_SCALE_DOWN_RULES = api.HPAScalingRules(
    stabilization_window_seconds=None,
    select_policy=api.MAX_CHANGE,
    policies=(api.HPAScalingPolicy(type=api.PERCENT_POLICY, value=100, period_seconds=15),),
)
"""``defaultHPAScaleDownRules``: window from the controller flag; -100 % per 15 s."""


def generate_hpa_scale_up_rules(rules: api.HPAScalingRules | None) -> api.HPAScalingRules:
    """``GenerateHPAScaleUpRules``: the user's fields over the scale-up defaults."""
    return copy_hpa_scaling_rules(source=rules, defaults=DEFAULT_SCALE_UP_RULES)


def generate_hpa_scale_down_rules(rules: api.HPAScalingRules | None) -> api.HPAScalingRules:
    """``GenerateHPAScaleDownRules``: the user's fields over the scale-down defaults."""
    return copy_hpa_scaling_rules(source=rules, defaults=DEFAULT_SCALE_DOWN_RULES)


def copy_hpa_scaling_rules(
    *, source: api.HPAScalingRules | None, defaults: api.HPAScalingRules
) -> api.HPAScalingRules:
    """``copyHPAScalingRules``: every non-``None`` field of ``source`` wins."""
    if source is None:
        return defaults
    overrides = {
        field.name: getattr(source, field.name)
        for field in dataclasses.fields(source)
        if getattr(source, field.name) is not None
    }
    return dataclasses.replace(defaults, **overrides)


def set_defaults_behavior(
    behavior: api.HorizontalPodAutoscalerBehavior | None,
) -> api.HorizontalPodAutoscalerBehavior | None:
    """``SetDefaults_HorizontalPodAutoscalerBehavior``: fill both directions when behavior is set."""
    if behavior is None:
        return None
    return api.HorizontalPodAutoscalerBehavior(
        scale_up=generate_hpa_scale_up_rules(behavior.scale_up),
        scale_down=generate_hpa_scale_down_rules(behavior.scale_down),
    )
