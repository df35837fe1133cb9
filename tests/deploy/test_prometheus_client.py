"""The one Prometheus client, against a real Prometheus that scrapes itself.

Aspects: instant queries as (labels, value) and by one label; range queries as the matrix; the last
scrape of the targets a selector matches, and None when none matches; the count of healthy targets;
readiness; a bad query and an unreachable server are PrometheusError naming the query, never a raw
HTTP or JSON error; the app selector comes from the renderer's job name.
"""
import time

import pytest

from deploy.local import ports as ports_module
from deploy.local import processes
from deploy.prometheus import client as prometheus_client
from deploy.prometheus import render


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prometheus")
    allocator = ports_module.PortAllocator()
    port = allocator.allocate(what="the test Prometheus")
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs: [{{job_name: self, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]\n")
    binary = processes.find_binary("prometheus", env_var="TAILSTORM_PROMETHEUS", hint="make setup")
    server = processes.ManagedProcess(name="prometheus", log_path=folder / "log", argv=[
        binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
    client = prometheus_client.Prometheus(f"http://127.0.0.1:{port}")
    try:
        processes.wait_until(lambda: client.is_ready() and client.targets_up() == 1, timeout_seconds=30,
                             what="Prometheus scraping itself", failed=lambda: None if server.is_running() else server.log_tail())
        yield client
    finally:
        client.close()
        server.stop(grace_seconds=5)
        allocator.close()


def test_instant_and_range_queries_return_series_and_values(prometheus):
    (labels, value), = prometheus.instant('up{job="self"}')
    assert labels["job"] == "self" and value == 1.0
    assert prometheus.by_label("up", "job") == {"self": 1.0}
    now = time.time()
    (series,) = prometheus.range('up{job="self"}', start=now - 2, end=now, step=1)
    assert series["metric"]["job"] == "self" and [v for _, v in series["values"]][-1] == "1"


def test_the_last_scrape_is_the_samples_own_time(prometheus):
    before = time.time()
    processes.wait_until(lambda: (prometheus.last_scrape('job="self"') or 0) >= before, timeout_seconds=10,
                         what="a scrape after now")
    assert prometheus.last_scrape('job="self"') <= time.time()
    assert prometheus.last_scrape('job="nobody"') is None
    assert prometheus.last_scrape("") >= before


def test_a_bad_query_and_an_unreachable_server_are_named_errors(prometheus):
    with pytest.raises(prometheus_client.PrometheusError, match=r"query 'sum by \(' at http://127.0.0.1:\d+ failed"):
        prometheus.instant("sum by (")
    gone = prometheus_client.Prometheus(f"http://127.0.0.1:{ports_module.os_candidate()}", timeout_seconds=1)
    with pytest.raises(prometheus_client.PrometheusError, match="range query 'up' at .* failed: ConnectError"):
        gone.range("up", start=0, end=1, step=1)
    assert gone.is_ready() is False
    gone.close()


def test_the_app_selector_names_the_renderers_job():
    assert prometheus_client.app_selector() == f'job="{render.APP_JOB}"'
    assert prometheus_client.app_selector(service="auth") == f'job="{render.APP_JOB}",service="auth"'
