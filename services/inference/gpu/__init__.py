"""GPU emulator for the inference service: an LLM server on an H100/H200 from datasheet constants.

Modules, in dependency order (import the module, not its names):

- ``hardware``: GPU profiles (peak dense FLOP/s, HBM, bandwidth, interconnect).
- ``models``: transformer shapes (layers, heads, KV heads, bytes per value) and derived counts.
- ``roofline``: step time = max(compute, memory) + communication + overhead; KV capacity;
  closed-form TTFT, TPOT, throughput and concurrency.
- ``kvcache``: the paged KV-cache block allocator (vLLM block size 16).
- ``errors``: the emulator's exceptions (ECC crash, rejected request, stalled, stopped).
- ``engine``: continuous batching in emulated time, vLLM-V1-style scheduling and preemption, faults.
- ``workloads``: burst, closed-loop and open-loop drivers of the engine in emulated time.
- ``metrics``: DCGM- and vLLM-named Prometheus metrics on a passed-in registry.
- ``serving``: ``AsyncEngine``, the engine stretched onto the wall clock for the FastAPI service.
- ``calibration``: published H100 measurements and the emulator's error against each.
- ``cli``: ``tailstorm gpu``.

The model and every constant's source are in ``docs/gpu-emulator.md``.
"""
