"""Envoy's fault filter for dependency faults, rendered and validated by the real binary offline.

Aspects: a bootstrap with the filter passes ``envoy --mode validate`` (local EDS and cluster DNS
variants) and differs from one without it only by the filter, placed before the router; the runtime
values that switch it are whole percents and milliseconds, and all zero clears every override;
percentages outside 0..100 are refused. (What Envoy does with them is tested on a real proxy in
tests/controllers/test_chaos_local.py.)
"""
import copy
import pathlib

import pytest

from deploy.envoy import render as envoy_render
from schema import scenario
from tests.deploy import test_rendering

ENVOY = scenario.EnvoySettings().model_dump()


def filters(bootstrap: dict) -> list[dict]:
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "http_filters"]


def local_bootstrap(tmp_path: pathlib.Path, **kwargs) -> dict:
    eds = tmp_path / "eds" / "formatter.yaml"
    eds.parent.mkdir(exist_ok=True)
    eds.write_text("")
    return envoy_render.render_bootstrap(service="formatter", listen_port=10000, admin_port=10001, eds_path=eds,
                                         envoy=ENVOY, **kwargs)


def test_the_fault_filter_goes_before_the_router_and_is_the_only_difference(tmp_path):
    with_filter, without = local_bootstrap(tmp_path, fault_filter=True), local_bootstrap(tmp_path)
    assert [f["name"] for f in filters(with_filter)] == ["envoy.filters.http.fault", "envoy.filters.http.router"]
    stripped = copy.deepcopy(with_filter)
    filters(stripped).pop(0)
    assert stripped == without
    fault = filters(with_filter)[0]["typed_config"]
    assert fault["abort"]["percentage"]["numerator"] == fault["delay"]["percentage"]["numerator"] == 0  # idle


def test_bootstraps_with_the_fault_filter_pass_envoy_validation(tmp_path):
    result = test_rendering.validate(local_bootstrap(tmp_path, fault_filter=True), tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    dns = envoy_render.render_dns_bootstrap(service="formatter", listen_port=10000, admin_port=9901, stats_port=9902,
                                            upstream_host="formatter-pods", upstream_port=8080, envoy=ENVOY,
                                            fault_filter=True)
    assert filters(dns)[0]["name"] == "envoy.filters.http.fault"
    result = test_rendering.validate(dns, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_runtime_values_are_whole_percents_and_milliseconds_and_zero_clears_them():
    assert envoy_render.fault_runtime(abort_percent=30, abort_status=502, delay_percent=100, delay_seconds=0.25) == {
        "fault.http.abort.abort_percent": "30", "fault.http.abort.http_status": "502",
        "fault.http.delay.fixed_delay_percent": "100", "fault.http.delay.fixed_duration_ms": "250"}
    assert envoy_render.fault_runtime(delay_percent=10, delay_seconds=0.5) == {
        "fault.http.abort.abort_percent": "", "fault.http.abort.http_status": "",
        "fault.http.delay.fixed_delay_percent": "10", "fault.http.delay.fixed_duration_ms": "500"}
    assert set(envoy_render.fault_runtime().values()) == {""}


@pytest.mark.parametrize("settings", [{"abort_percent": 101}, {"delay_percent": -1}], ids=["above-100", "negative"])
def test_a_percentage_outside_0_to_100_is_refused(settings):
    with pytest.raises(ValueError, match="whole numbers in 0..100"):
        envoy_render.fault_runtime(**settings)
