"""Continuous-batching engine in emulated time, and the workload drivers around it.

We test these aspects:
- a run is a pure function of its inputs and seed (jittered steps included);
- step accounting conserves tokens, also when preemptions throw computed tokens away;
- no request is lost or duplicated under preemption, and KV usage never exceeds capacity;
- recompute preemption evicts the most recently admitted request (FIFO) or the least important
  one (priority), and the victim keeps the tokens it had already streamed;
- chunked prefill respects the token budget;
- FIFO versus priority admission order;
- queueing delay explodes once the KV cache is full, and throughput saturates with concurrency;
- at batch 1 the engine agrees with the closed form;
- faults: clock factor, stall, ECC crash; abort; impossible requests are rejected;
- a run of pure decode steps in one call (``run_decode_stretch``) gives the same records as
  stepping one by one, under jitter, preemption and open-loop arrivals;
- a request of one output token has no time per output token; a block size below one is rejected;
- vLLM gives A100 its smaller batch defaults whatever its memory; latency percentiles interpolate.
"""
from __future__ import annotations

import random
import statistics

import pytest

from services.inference.gpu import engine
from services.inference.gpu import errors
from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline
from services.inference.gpu import workloads

Priority = engine.Priority


def make_engine(**settings: object) -> engine.Engine:
    return engine.Engine(hardware=hardware.H100_SXM, model=models.LLAMA_3_8B,
                         settings=engine.EngineSettings(**settings))  # type: ignore[arg-type]


def drain(eng: engine.Engine, *, max_steps: int = 100_000) -> list[engine.StepResult]:
    """Step until idle, checking after every step that the KV pool is never over-committed."""
    results: list[engine.StepResult] = []
    while eng.has_work:
        assert len(results) < max_steps, "the engine did not drain"
        result = eng.step()
        assert result is not None
        assert eng.allocator.used_blocks <= eng.allocator.total_blocks
        assert 0.0 <= result.kv_usage <= 1.0
        results.append(result)
    return results


def submit_mixed(eng: engine.Engine, *, count: int, seed: int) -> dict[int, tuple[int, int]]:
    """Submit ``count`` requests of varied sizes; returns id -> (prompt, output)."""
    stream = random.Random(seed)
    sizes = {}
    for _ in range(count):
        prompt, output = stream.randrange(16, 200), stream.randrange(8, 100)
        sizes[eng.submit(prompt_tokens=prompt, output_tokens=output)] = (prompt, output)
    return sizes


def test_a_run_is_a_pure_function_of_its_seed() -> None:
    def run(seed: int) -> tuple[engine.RequestRecord, ...]:
        eng = make_engine(step_jitter=0.2, seed=seed)
        arrivals = workloads.poisson_arrivals(arrival_rate_per_second=20.0, requests=40, seed=3)
        return workloads.run_open_loop(eng, arrival_seconds=arrivals, prompt_tokens=256, output_tokens=32).records

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_step_accounting_conserves_tokens_under_preemption() -> None:
    eng = make_engine(kv_capacity_tokens=1024)
    sizes = submit_mixed(eng, count=24, seed=1)
    results = drain(eng)
    assert sum(len(r.preempted_request_ids) for r in results) > 0
    lost = sum(r.lost_tokens for r in results)
    assert sum(r.scheduled_tokens for r in results) == sum(p + o - 1 for p, o in sizes.values()) + lost
    assert sum(r.generated_tokens for r in results) == sum(o for _, o in sizes.values())
    assert sum(r.prompt_tokens for r in results) == sum(p for p, _ in sizes.values())
    assert sum(len(r.ttft_seconds) for r in results) == len(sizes)
    assert sum(len(r.inter_token_seconds) for r in results) == sum(o - 1 for _, o in sizes.values())


def test_no_request_is_lost_or_duplicated_under_preemption() -> None:
    eng = make_engine(kv_capacity_tokens=1024)
    sizes = submit_mixed(eng, count=24, seed=2)
    results = drain(eng)
    finished = [record.request_id for r in results for record in r.finished]
    assert sorted(finished) == sorted(sizes)
    assert all(eng.records[i].output_tokens == sizes[i][1] for i in sizes)
    preempted = [i for r in results for i in r.preempted_request_ids]
    assert preempted
    assert all(eng.records[i].preemptions == preempted.count(i) for i in sizes)


def test_fifo_preemption_evicts_the_most_recently_admitted_request() -> None:
    eng = make_engine(kv_capacity_tokens=64)
    first = eng.submit(prompt_tokens=16, output_tokens=40)
    second = eng.submit(prompt_tokens=16, output_tokens=40)
    drain(eng)
    assert (eng.records[first].preemptions, eng.records[second].preemptions) == (0, 1)
    assert eng.records[first].finish_seconds < eng.records[second].finish_seconds


def test_a_preempted_request_keeps_the_tokens_it_already_streamed() -> None:
    eng = make_engine(kv_capacity_tokens=64)
    first = eng.submit(prompt_tokens=16, output_tokens=40)
    second = eng.submit(prompt_tokens=16, output_tokens=40)
    results = drain(eng)
    assert eng.records[second].first_token_seconds == eng.records[first].first_token_seconds
    assert sum(r.lost_tokens for r in results) > 16
    assert eng.records[second].output_tokens == 40


def test_priority_preemption_evicts_the_batch_request_even_if_it_came_first() -> None:
    eng = make_engine(kv_capacity_tokens=64, policy=engine.AdmissionPolicy.PRIORITY)
    batch = eng.submit(prompt_tokens=16, output_tokens=40, priority=Priority.BATCH)
    interactive = eng.submit(prompt_tokens=16, output_tokens=40, priority=Priority.INTERACTIVE)
    drain(eng)
    assert (eng.records[batch].preemptions, eng.records[interactive].preemptions) == (1, 0)


def test_chunked_prefill_respects_the_token_budget() -> None:
    eng = make_engine(max_num_batched_tokens=256)
    eng.submit(prompt_tokens=1000, output_tokens=2)
    results = drain(eng)
    assert [r.scheduled_tokens for r in results] == [256, 256, 256, 232, 1]
    assert [r.generated_tokens for r in results] == [0, 0, 0, 1, 1]


@pytest.mark.parametrize(("policy", "finish_order"), [
    pytest.param(engine.AdmissionPolicy.FIFO, [0, 1, 2, 3], id="fifo"),
    pytest.param(engine.AdmissionPolicy.PRIORITY, [3, 0, 1, 2], id="priority"),
])
def test_admission_order_follows_the_policy(policy: engine.AdmissionPolicy, finish_order: list[int]) -> None:
    eng = make_engine(max_num_seqs=1, policy=policy)
    for priority in (Priority.BATCH, Priority.BATCH, Priority.BATCH, Priority.INTERACTIVE):
        eng.submit(prompt_tokens=64, output_tokens=8, priority=priority)
    results = drain(eng)
    assert [record.request_id for r in results for record in r.finished] == finish_order


def test_queueing_delay_explodes_once_the_kv_cache_is_full() -> None:
    def ttfts(rate_per_second: float) -> tuple[list[float], float]:
        eng = make_engine(kv_capacity_tokens=8192)
        arrivals = workloads.poisson_arrivals(arrival_rate_per_second=rate_per_second, requests=150, seed=1)
        run = workloads.run_open_loop(eng, arrival_seconds=arrivals, prompt_tokens=512, output_tokens=256)
        return [r.ttft_seconds for r in run.records], run.max_kv_usage

    light, light_kv = ttfts(1.0)
    heavy, heavy_kv = ttfts(8.0)
    assert light_kv < 0.9 and heavy_kv == 1.0
    assert statistics.fmean(light) < 0.05
    assert statistics.fmean(heavy) > 50 * statistics.fmean(light)
    assert statistics.fmean(heavy[-30:]) > 3 * statistics.fmean(heavy[:30])


def test_throughput_saturates_with_concurrency_once_the_kv_cache_is_full() -> None:
    def throughput(concurrency: int) -> float:
        eng = make_engine(kv_capacity_tokens=16384)
        return workloads.run_closed_loop(eng, concurrency=concurrency, requests=3 * concurrency,
                                         prompt_tokens=512, output_tokens=128).throughput_tokens_per_second

    one, eight, sixty_four, one_twenty_eight = (throughput(c) for c in (1, 8, 64, 128))
    assert eight > 6 * one
    assert one_twenty_eight == pytest.approx(sixty_four, rel=0.1)


def test_the_engine_agrees_with_the_closed_form_at_batch_one() -> None:
    eng = make_engine()
    run = workloads.run_burst(eng, batch=1, prompt_tokens=700, output_tokens=64)
    closed = roofline.predict(eng.deployment, batch=1, prompt_tokens=700, output_tokens=64,
                              max_num_batched_tokens=eng.max_num_batched_tokens, max_num_seqs=eng.max_num_seqs)
    assert run.mean_ttft_seconds == pytest.approx(closed.ttft_seconds, rel=1e-9)
    assert run.mean_tpot_seconds == pytest.approx(closed.tpot_seconds, rel=1e-3)
    assert run.throughput_tokens_per_second == pytest.approx(closed.throughput_tokens_per_second, rel=1e-3)


def test_throttling_to_half_clocks_doubles_the_kernel_time_of_a_step() -> None:
    def first_decode(factor: float) -> engine.StepResult:
        eng = make_engine()
        eng.set_clock_factor(factor)
        eng.submit(prompt_tokens=32, output_tokens=3)
        return drain(eng)[1]

    nominal, throttled = first_decode(1.0), first_decode(0.5)
    assert throttled.cost.memory_seconds == pytest.approx(2 * nominal.cost.memory_seconds)
    overhead = nominal.cost.overhead_seconds
    assert throttled.duration_seconds - overhead == pytest.approx(2 * (nominal.duration_seconds - overhead))


def test_an_invalid_clock_factor_is_rejected() -> None:
    with pytest.raises(ValueError, match="clock factor"):
        make_engine().set_clock_factor(0.0)


def test_a_stall_makes_no_progress_until_cleared_and_counts_as_busy() -> None:
    eng = make_engine()
    request = eng.submit(prompt_tokens=128, output_tokens=4)
    eng.stall()
    assert eng.step() is None
    eng.advance_to(seconds=5.0)
    assert (eng.busy_seconds, eng.waiting_count) == (5.0, 1)
    with pytest.raises(errors.EngineStalled):
        workloads.run_burst(eng, batch=1, prompt_tokens=8, output_tokens=1)
    eng.clear_stall()
    drain(eng)
    assert eng.records[request].ttft_seconds > 5.0


def test_an_ecc_error_fails_every_in_flight_request_and_kills_the_engine() -> None:
    eng = make_engine(max_num_seqs=2)
    done = eng.submit(prompt_tokens=16, output_tokens=1)
    eng.step()
    in_flight = [eng.submit(prompt_tokens=16, output_tokens=50) for _ in range(3)]
    eng.step()
    eng.inject_ecc_error()
    with pytest.raises(errors.EccError) as crash:
        eng.step()
    assert sorted(crash.value.failed_request_ids) == in_flight
    assert done in eng.records and eng.allocator.used_blocks == 0
    with pytest.raises(errors.EccError):
        eng.submit(prompt_tokens=16, output_tokens=1)
    with pytest.raises(errors.EccError):
        eng.step()


def test_abort_drops_the_request_and_frees_its_blocks() -> None:
    eng = make_engine()
    kept = eng.submit(prompt_tokens=64, output_tokens=8)
    dropped = eng.submit(prompt_tokens=64, output_tokens=8)
    eng.step()
    assert eng.abort(dropped) and not eng.abort(dropped)
    assert eng.allocator.held_by(dropped) == 0
    drain(eng)
    assert list(eng.records) == [kept]


@pytest.mark.parametrize(("prompt", "output"), [
    pytest.param(0, 10, id="empty-prompt"),
    pytest.param(10_000_000, 10, id="longer-than-the-kv-cache"),
])
def test_requests_that_can_never_be_served_are_rejected(prompt: int, output: int) -> None:
    with pytest.raises(errors.RequestRejected):
        make_engine().submit(prompt_tokens=prompt, output_tokens=output)


def test_an_arrival_after_the_engine_clock_is_rejected() -> None:
    with pytest.raises(ValueError, match="after the engine clock"):
        make_engine().submit(prompt_tokens=8, output_tokens=8, arrival_seconds=1.0)


def _records_both_ways(run) -> tuple[object, object]:  # type: ignore[no-untyped-def]
    fast = run()
    original = engine.Engine.run_decode_stretch
    engine.Engine.run_decode_stretch = lambda self, **kwargs: None  # type: ignore[method-assign]
    try:
        slow = run()
    finally:
        engine.Engine.run_decode_stretch = original  # type: ignore[method-assign]
    return fast, slow


@pytest.mark.parametrize("workload", ["closed-loop-with-jitter-and-preemption", "open-loop", "burst"])
def test_decode_stretches_give_the_same_records_as_stepping_one_by_one(workload: str) -> None:
    def run() -> tuple[engine.RequestRecord, ...]:
        if workload == "open-loop":
            arrivals = workloads.poisson_arrivals(arrival_rate_per_second=6.0, requests=80, seed=1)
            return workloads.run_open_loop(make_engine(kv_capacity_tokens=8192), arrival_seconds=arrivals,
                                           prompt_tokens=512, output_tokens=200).records
        if workload == "burst":
            return workloads.run_burst(make_engine(), batch=48, prompt_tokens=128, output_tokens=300).records
        eng = make_engine(kv_capacity_tokens=12_000, step_jitter=0.1, seed=3)
        return workloads.run_closed_loop(eng, concurrency=40, requests=160, prompt_tokens=300,
                                         output_tokens=150).records

    fast, slow = _records_both_ways(run)
    assert fast == slow
    if workload.startswith("closed"):
        assert any(record.preemptions for record in fast)  # the stretches stopped before each preemption


def test_a_decode_stretch_stops_before_the_first_finish_and_runs_only_pure_decodes() -> None:
    eng = make_engine()
    short = eng.submit(prompt_tokens=64, output_tokens=10)
    eng.submit(prompt_tokens=64, output_tokens=50)
    assert eng.run_decode_stretch(max_steps=1000) is None  # the next step is a prefill
    eng.step()
    stretch = eng.run_decode_stretch(max_steps=1000)
    assert stretch is not None and (stretch.steps, stretch.running) == (8, 2)
    finishing = eng.step()
    assert [record.request_id for record in finishing.finished] == [short]


def test_a_single_output_token_has_no_time_per_output_token() -> None:
    eng = make_engine()
    request = eng.submit(prompt_tokens=100, output_tokens=1)
    drain(eng)
    assert eng.records[request].tpot_seconds == 0.0
    assert eng.records[request].e2e_seconds == eng.records[request].ttft_seconds > 0


@pytest.mark.parametrize("block_size", [0, -1])
def test_engine_settings_reject_a_block_size_below_one_token(block_size: int) -> None:
    with pytest.raises(ValueError, match="block_size_tokens"):
        engine.EngineSettings(block_size_tokens=block_size)


def test_vllm_gives_a100_its_smaller_batch_defaults_whatever_its_memory() -> None:
    assert engine.batch_limits(hardware.A100_SXM) == engine.SMALL_GPU_LIMITS
    assert engine.batch_limits(hardware.H100_SXM) == engine.LARGE_GPU_LIMITS
    assert hardware.A100_SXM.memory_bytes == hardware.H100_SXM.memory_bytes


@pytest.mark.parametrize(("q", "value"), [pytest.param(0, 1.0, id="p0"), pytest.param(50, 2.5, id="p50"),
                                          pytest.param(90, 3.7, id="p90"), pytest.param(100, 4.0, id="p100")])
def test_percentiles_interpolate_linearly_between_order_statistics(q: float, value: float) -> None:
    assert workloads.percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(value)


def test_a_run_summary_reports_mean_and_percentiles_of_the_measured_requests() -> None:
    eng = make_engine(kv_capacity_tokens=8192)
    arrivals = workloads.poisson_arrivals(arrival_rate_per_second=8.0, requests=60, seed=2)
    run = workloads.run_open_loop(eng, arrival_seconds=arrivals, prompt_tokens=256, output_tokens=64)
    summary = run.summary()
    ttfts = [r.ttft_seconds for r in run.records]
    assert summary["ttft_seconds"]["mean"] == pytest.approx(statistics.fmean(ttfts))
    assert summary["ttft_seconds"]["p99"] == pytest.approx(workloads.percentile(ttfts, 99))
    assert summary["ttft_seconds"]["p50"] <= summary["ttft_seconds"]["p90"] <= max(ttfts)
    assert set(summary) == {"ttft_seconds", "tpot_seconds", "e2e_seconds"}
