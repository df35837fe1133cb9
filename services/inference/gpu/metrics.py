"""Prometheus metrics named like the real exporters, so dashboards and HPA rules carry over.

- DCGM (NVIDIA dcgm-exporter, ``etc/default-counters.csv``): ``DCGM_FI_DEV_GPU_UTIL`` (gauge, %,
  share of the sample period a kernel was running) and ``DCGM_FI_DEV_FB_USED`` (gauge, MiB), one
  series per GPU with dcgm-exporter's ``gpu`` and ``modelName`` labels.
- vLLM (``vllm/v1/metrics/loggers.py``, label ``model_name``): ``vllm:num_requests_running``,
  ``vllm:num_requests_waiting``, ``vllm:gpu_cache_usage_perc`` and its V1 name
  ``vllm:kv_cache_usage_perc`` (same value, ratio 0..1), ``vllm:time_to_first_token_seconds``,
  ``vllm:time_per_output_token_seconds`` (one observation per inter-token interval, as vLLM),
  ``vllm:e2e_request_latency_seconds``, ``vllm:prompt_tokens_total``,
  ``vllm:generation_tokens_total``, ``vllm:num_preemptions_total``.

Histogram buckets are vLLM's, except that the per-token histogram gets extra edges below 10 ms:
an H100 decode step for an 8B model is 5-10 ms, and vLLM's first edge (10 ms) would put every
observation in one bucket and make quantiles bucket artefacts (docs/gpu-emulator.md).
"""
from __future__ import annotations

import dataclasses

import prometheus_client

# vllm/v1/metrics/loggers.py, histogram_time_to_first_token buckets.
TTFT_BUCKETS_SECONDS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                        10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
"""Bucket upper bounds of ``vllm:time_to_first_token_seconds``."""

# vllm/v1/metrics/loggers.py, histogram_time_per_output_token buckets, with 2-8 ms edges added.
TPOT_BUCKETS_SECONDS = (0.002, 0.004, 0.006, 0.008, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                        0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
"""Bucket upper bounds of ``vllm:time_per_output_token_seconds``."""

# vllm/v1/metrics/loggers.py, histogram_e2e_time_request buckets.
E2E_BUCKETS_SECONDS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                       240.0, 480.0, 960.0, 1920.0, 7680.0)
"""Bucket upper bounds of ``vllm:e2e_request_latency_seconds``."""

DCGM_LABELS = ("gpu", "modelName")
"""Labels of the DCGM series (a subset of dcgm-exporter's)."""

VLLM_LABELS = ("model_name",)
"""Labels of the vLLM series."""


@dataclasses.dataclass(frozen=True)
class ServingMetrics:
    """The metric families of one emulated inference server."""

    gpu_utilization_percent: prometheus_client.Gauge
    """DCGM_FI_DEV_GPU_UTIL: % of the recent wall-clock window a step (or a hung kernel) ran."""

    framebuffer_used_mib: prometheus_client.Gauge
    """DCGM_FI_DEV_FB_USED: device memory in use, MiB (weights + KV pool + reserve: vLLM preallocates)."""

    requests_running: prometheus_client.Gauge
    """vllm:num_requests_running."""

    requests_waiting: prometheus_client.Gauge
    """vllm:num_requests_waiting."""

    gpu_cache_usage: prometheus_client.Gauge
    """vllm:gpu_cache_usage_perc (V0 name), KV blocks held as a ratio 0..1."""

    kv_cache_usage: prometheus_client.Gauge
    """vllm:kv_cache_usage_perc (V1 name), same value."""

    time_to_first_token: prometheus_client.Histogram
    """vllm:time_to_first_token_seconds."""

    time_per_output_token: prometheus_client.Histogram
    """vllm:time_per_output_token_seconds, one observation per inter-token interval."""

    e2e_request_latency: prometheus_client.Histogram
    """vllm:e2e_request_latency_seconds."""

    prompt_tokens: prometheus_client.Counter
    """vllm:prompt_tokens_total: prompt tokens of requests that got their first token."""

    generation_tokens: prometheus_client.Counter
    """vllm:generation_tokens_total: tokens sampled."""

    preemptions: prometheus_client.Counter
    """vllm:num_preemptions_total."""


def create_metrics(*, registry: prometheus_client.CollectorRegistry) -> ServingMetrics:
    """Register every metric family on ``registry`` (one emulated server per registry)."""
    def gauge(name: str, documentation: str, labels: tuple[str, ...]) -> prometheus_client.Gauge:
        return prometheus_client.Gauge(name, documentation, labelnames=labels, registry=registry)

    def counter(name: str, documentation: str) -> prometheus_client.Counter:
        return prometheus_client.Counter(name, documentation, labelnames=VLLM_LABELS, registry=registry)

    def histogram(name: str, documentation: str, buckets: tuple[float, ...]) -> prometheus_client.Histogram:
        return prometheus_client.Histogram(name, documentation, labelnames=VLLM_LABELS, buckets=buckets,
                                           registry=registry)

    return ServingMetrics(
        gpu_utilization_percent=gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", DCGM_LABELS),
        framebuffer_used_mib=gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", DCGM_LABELS),
        requests_running=gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
                               VLLM_LABELS),
        requests_waiting=gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
                               VLLM_LABELS),
        gpu_cache_usage=gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.",
                              VLLM_LABELS),
        kv_cache_usage=gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
                             VLLM_LABELS),
        time_to_first_token=histogram("vllm:time_to_first_token_seconds",
                                      "Histogram of time to first token in seconds.", TTFT_BUCKETS_SECONDS),
        time_per_output_token=histogram("vllm:time_per_output_token_seconds",
                                        "Histogram of time per output token in seconds.", TPOT_BUCKETS_SECONDS),
        e2e_request_latency=histogram("vllm:e2e_request_latency_seconds",
                                      "Histogram of end to end request latency in seconds.", E2E_BUCKETS_SECONDS),
        prompt_tokens=counter("vllm:prompt_tokens", "Number of prefill tokens processed."),
        generation_tokens=counter("vllm:generation_tokens", "Number of generation tokens processed."),
        preemptions=counter("vllm:num_preemptions", "Cumulative number of preemption from the engine."),
    )
