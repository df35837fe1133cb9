"""GPU emulator for the inference service: an LLM server on A100/H100/H200/L4 from datasheet constants.

Modules, in dependency order (import the module, not its names):

- ``hardware``: GPU profiles (peak dense FLOP/s, HBM, bandwidth, interconnect).
- ``models``: transformer shapes (layers, heads, KV heads, experts), weight and KV precision, counts.
- ``roofline``: step time from compute and two memory streams (weights, KV) + communication +
  overhead; KV capacity; closed-form TTFT, TPOT, throughput; ridge points, MFU/MBU per phase.
- ``kvcache``: the paged KV-cache block allocator (vLLM block size 16).
- ``errors``: the emulator's exceptions (ECC crash, rejected request, stalled, stopped).
- ``engine``: continuous batching in emulated time, vLLM-V1-style scheduling and preemption, faults.
- ``stacks``: serving stacks (vLLM, NIM, TensorRT-LLM 0.5): per-step overheads and KV-pool rules.
- ``workloads``: burst, closed-loop and open-loop drivers of the engine in emulated time.
- ``metrics``: DCGM- and vLLM-named Prometheus metrics on a passed-in registry.
- ``serving``: ``AsyncEngine``, the engine stretched onto the wall clock for the FastAPI service.
- ``calibration``: published measurements (``published.toml``), the fit/held-out split, the fit,
  and the emulator's error on every row.
- ``cli``: ``tailstorm gpu``.

The model and every constant's source are in ``docs/gpu-emulator.md``.
"""
