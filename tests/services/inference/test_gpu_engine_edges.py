"""Edges of the continuous-batching engine: what each step and record reports, refusals, faults,
the scheduler's boundaries and the pure-decode stretch.

We test these aspects:
- a finished request's record carries every time of its life, its class and its sizes; each
  step reports when it started, its TTFTs and inter-token gaps, its decode tokens and the queue;
- a prefill's last one-token chunk gives the first token and is no decode;
- the engine serves the deployment its settings describe (GPUs, memory share, efficiency, KV
  pool rule, GQA reuse, block size); a GPU of exactly 70 GiB gets vLLM's larger batch defaults;
- refusals with their sentences: negative jitter, a clock factor above 1, an empty prompt, a
  request one token larger than the KV cache, an arrival after the clock (a picosecond of slack);
  a one-token prompt and a clock factor of exactly 1 are accepted;
- busy time accumulates over steps and stalls; the fault flags are booleans; after an ECC crash
  nothing is in flight and the engine says why it is dead;
- step jitter is log-normal with median 1 and the configured sigma;
- abort removes a waiting request from either queue;
- preemption: under FIFO the most recently admitted request is the victim whatever its class, also
  among three; a victim already scheduled in the step refunds its tokens, one not yet scheduled
  refunds none, a victim ahead of the request being scheduled does not skip the one behind it;
  several victims in one step all lose their computed tokens; a request preempted twice counts two
  preemptions; the budget is never exceeded;
- the token budget: two decoders share a budget of two; admission spends the budget request by
  request and never exceeds max_num_seqs; a request waiting for budget is not yet scheduled;
- a stretch of pure decodes: stops at the first step that ends at or after ``until_seconds``,
  runs a window of one step, throttled like ``step()``, counts busy time, refuses to run while
  stalled, while an ECC error is pending, during a prefill's last one-token chunk, or when the
  waiting head could join; and runs as far as the KV cache lets the batch grow.
"""
from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from services.inference.gpu import engine
from services.inference.gpu import errors
from services.inference.gpu import hardware
from services.inference.gpu import models
from services.inference.gpu import roofline

Priority = engine.Priority


def make_engine(**settings: object) -> engine.Engine:
    return engine.Engine(hardware=hardware.H100_SXM, model=models.LLAMA_3_8B,
                         settings=engine.EngineSettings(**settings))  # type: ignore[arg-type]


def drain(eng: engine.Engine) -> list[engine.StepResult]:
    results = []
    while eng.has_work:
        result = eng.step()
        assert result is not None and len(results) < 10_000
        results.append(result)
    return results


# --- what records and steps report -------------------------------------------------------------


def test_a_finished_request_s_record_carries_every_time_of_its_life() -> None:
    eng = make_engine(max_num_seqs=1)
    eng.advance_to(seconds=1.0)
    first = eng.submit(prompt_tokens=100, output_tokens=3, priority=Priority.BATCH)
    second = eng.submit(prompt_tokens=50, output_tokens=2, priority=Priority.BATCH)
    steps = drain(eng)
    ends = [step.end_seconds for step in steps]
    assert len(steps) == 5  # first: prefill, two decodes; then second: prefill, one decode
    assert eng.records[first] == engine.RequestRecord(
        request_id=first, priority=Priority.BATCH, prompt_tokens=100, output_tokens=3, arrival_seconds=1.0,
        first_scheduled_seconds=1.0, first_token_seconds=ends[0], finish_seconds=ends[2], preemptions=0)
    assert eng.records[second] == engine.RequestRecord(
        request_id=second, priority=Priority.BATCH, prompt_tokens=50, output_tokens=2, arrival_seconds=1.0,
        first_scheduled_seconds=ends[2], first_token_seconds=ends[3], finish_seconds=ends[4], preemptions=0)
    assert eng.records[second].queue_seconds == pytest.approx(ends[2] - 1.0)


def test_each_step_reports_its_start_ttfts_inter_token_gaps_decodes_and_queue() -> None:
    eng = make_engine(max_num_seqs=1)
    eng.advance_to(seconds=1.0)
    eng.submit(prompt_tokens=100, output_tokens=3)
    eng.submit(prompt_tokens=50, output_tokens=2)
    steps = drain(eng)
    assert [step.start_seconds for step in steps] == [1.0] + [step.end_seconds for step in steps[:-1]]
    assert steps[0].ttft_seconds == (steps[0].end_seconds - 1.0,)
    assert steps[3].ttft_seconds == (steps[3].end_seconds - 1.0,)
    gaps = [step.inter_token_seconds for step in steps]
    assert [len(gap) for gap in gaps] == [0, 1, 1, 0, 1]
    assert [gap[0] for gap in gaps if gap] == pytest.approx(
        [steps[1].duration_seconds, steps[2].duration_seconds, steps[4].duration_seconds], rel=1e-9)
    assert [step.decode_tokens for step in steps] == [0, 1, 1, 0, 1]
    assert [(step.running, step.waiting) for step in steps] == [(1, 1), (1, 1), (0, 1), (1, 0), (0, 0)]
    assert eng.busy_seconds == pytest.approx(sum(step.duration_seconds for step in steps))
    assert eng.now_seconds == steps[-1].end_seconds


def test_a_prefill_s_last_one_token_chunk_gives_the_first_token_and_is_no_decode() -> None:
    eng = make_engine(max_num_batched_tokens=256)
    eng.submit(prompt_tokens=257, output_tokens=3)
    steps = drain(eng)
    assert [step.scheduled_tokens for step in steps] == [256, 1, 1, 1]
    assert [step.generated_tokens for step in steps] == [0, 1, 1, 1]
    assert [step.decode_tokens for step in steps] == [0, 0, 1, 1]
    assert [len(step.ttft_seconds) for step in steps] == [0, 1, 0, 0]


# --- settings ----------------------------------------------------------------------------------


def test_the_engine_serves_the_deployment_its_settings_describe() -> None:
    efficiency = roofline.Efficiency(compute_utilization=0.5, step_overhead_seconds=0.001)
    eng = make_engine(tensor_parallel_size=2, gpu_memory_utilization=0.5, efficiency=efficiency,
                      kv_pool_rule="trtllm", gqa_kv_reuse=False, block_size_tokens=32)
    assert eng.deployment == roofline.Deployment(
        hardware=hardware.H100_SXM, model=models.LLAMA_3_8B, tensor_parallel_size=2, gpu_memory_utilization=0.5,
        efficiency=efficiency, kv_pool_rule="trtllm", gqa_kv_reuse=False)
    assert eng.allocator.block_size_tokens == 32
    assert eng.allocator.total_blocks == eng.deployment.kv_capacity_tokens // 32
    assert eng.kv_capacity_tokens == 32 * eng.allocator.total_blocks


def test_a_gpu_of_exactly_70_gib_gets_vllm_s_larger_batch_defaults() -> None:
    seventy = dataclasses.replace(hardware.H100_SXM, name="h100-70g", memory_bytes=engine.LARGE_GPU_BYTES)
    smaller = dataclasses.replace(seventy, memory_bytes=engine.LARGE_GPU_BYTES - 1)
    assert engine.batch_limits(seventy) == engine.LARGE_GPU_LIMITS == (8192, 1024)
    assert engine.batch_limits(smaller) == engine.SMALL_GPU_LIMITS == (2048, 256)
    eng = make_engine()
    assert (eng.max_num_batched_tokens, eng.max_num_seqs) == (8192, 1024)


# --- refusals ----------------------------------------------------------------------------------


def test_negative_step_jitter_is_refused_with_its_sentence() -> None:
    with pytest.raises(ValueError) as raised:
        engine.EngineSettings(step_jitter=-0.1)
    assert str(raised.value) == "step_jitter must not be negative, got -0.1."


def test_a_clock_factor_above_one_is_refused_and_exactly_one_restores_nominal_clocks() -> None:
    eng = make_engine()
    with pytest.raises(ValueError) as raised:
        eng.set_clock_factor(1.5)
    assert str(raised.value) == "clock factor must be in (0, 1] (1.0 is nominal clocks), got 1.5."
    eng.set_clock_factor(0.5)
    eng.set_clock_factor(1.0)
    assert eng.clock_factor == 1.0


def test_an_empty_prompt_is_refused_with_its_sentence_and_a_one_token_prompt_is_served() -> None:
    eng = make_engine()
    with pytest.raises(errors.RequestRejected) as raised:
        eng.submit(prompt_tokens=0, output_tokens=4)
    assert str(raised.value) == "prompt_tokens and output_tokens must each be at least 1."
    request = eng.submit(prompt_tokens=1, output_tokens=4)
    drain(eng)
    assert eng.records[request].output_tokens == 4


def test_a_request_one_token_larger_than_the_kv_cache_is_refused_with_the_documented_sentence() -> None:
    eng = make_engine(kv_capacity_tokens=1024)
    with pytest.raises(errors.RequestRejected) as raised:
        eng.submit(prompt_tokens=1000, output_tokens=26)
    assert str(raised.value) == "a request of 1000 + 26 tokens can never fit the KV cache of 1024 tokens."
    eng.submit(prompt_tokens=1000, output_tokens=25)  # 1024 tokens of KV: exactly fits
    assert eng.waiting_count == 1


def test_an_arrival_within_a_picosecond_of_the_clock_is_accepted_and_later_is_refused() -> None:
    eng = make_engine()
    eng.submit(prompt_tokens=8, output_tokens=1, arrival_seconds=1e-12)
    with pytest.raises(ValueError) as raised:
        eng.submit(prompt_tokens=8, output_tokens=1, arrival_seconds=2e-12)
    assert str(raised.value) == "arrival_seconds 2e-12 is after the engine clock 0.0."


# --- time and faults ---------------------------------------------------------------------------


def test_busy_time_accumulates_over_steps_and_stalls_but_not_idle_time() -> None:
    eng = make_engine()
    eng.submit(prompt_tokens=64, output_tokens=2)
    first = eng.step()
    assert first is not None and eng.busy_seconds == first.duration_seconds
    eng.stall()
    eng.advance_to(seconds=first.end_seconds + 2.0)
    eng.advance_to(seconds=first.end_seconds + 3.0)
    eng.advance_to(seconds=first.end_seconds + 1.0)  # the past: nothing happens
    assert eng.busy_seconds == pytest.approx(first.duration_seconds + 3.0)
    eng.clear_stall()
    second = eng.step()
    assert second is not None and second.start_seconds == first.end_seconds + 3.0
    eng.advance_to(seconds=second.end_seconds + 10.0)  # idle
    assert eng.busy_seconds == pytest.approx(first.duration_seconds + 3.0 + second.duration_seconds)


def test_the_fault_flags_are_booleans() -> None:
    eng = make_engine()
    assert (eng.is_stalled, eng.is_failed) == (False, False)
    assert eng.is_stalled is False and eng.is_failed is False
    eng.stall()
    assert eng.is_stalled is True
    eng.clear_stall()
    assert eng.is_stalled is False
    eng.inject_ecc_error()
    assert eng.is_failed is True


def test_after_an_ecc_crash_nothing_is_in_flight_and_the_engine_says_why_it_is_dead() -> None:
    eng = make_engine(max_num_seqs=2)
    for _ in range(3):
        eng.submit(prompt_tokens=16, output_tokens=50)
    eng.step()
    eng.inject_ecc_error()
    with pytest.raises(errors.EccError) as crash:
        eng.step()
    assert str(crash.value) == "uncorrectable ECC error (Xid 48): 3 in-flight requests failed."
    assert (eng.running_count, eng.waiting_count, eng.has_work, eng.in_flight_ids()) == (0, 0, False, ())
    assert eng.is_failed
    with pytest.raises(errors.EccError) as again:
        eng.step()
    assert str(again.value) == "the GPU failed with an uncorrectable ECC error (Xid 48) and needs a reset."


@pytest.mark.parametrize("sigma", [0.2, 1.0])
def test_step_jitter_is_log_normal_with_median_one_and_the_configured_sigma(sigma: float) -> None:
    eng = make_engine(step_jitter=sigma, seed=7)
    eng.submit(prompt_tokens=8, output_tokens=2000)
    logs = [math.log(step.duration_seconds / step.cost.total_seconds) for step in drain(eng)]
    assert statistics.fmean(logs) == pytest.approx(0.0, abs=0.1 * sigma)
    assert statistics.stdev(logs) == pytest.approx(sigma, rel=0.1)


# --- abort -------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", list(engine.AdmissionPolicy))
def test_abort_removes_a_waiting_request_from_either_queue(policy: engine.AdmissionPolicy) -> None:
    eng = make_engine(max_num_seqs=1, policy=policy)
    running, dropped, kept = (eng.submit(prompt_tokens=32, output_tokens=4) for _ in range(3))
    eng.step()
    assert eng.in_flight_ids() == (running, dropped, kept)
    assert eng.abort(dropped) is True
    assert eng.abort(dropped) is False
    assert eng.in_flight_ids() == (running, kept)
    drain(eng)
    assert sorted(eng.records) == [running, kept]


# --- preemption --------------------------------------------------------------------------------


def test_under_fifo_the_most_recently_admitted_request_is_the_victim_whatever_its_class() -> None:
    eng = make_engine(kv_capacity_tokens=64)
    batch = eng.submit(prompt_tokens=16, output_tokens=40, priority=Priority.BATCH)
    interactive = eng.submit(prompt_tokens=16, output_tokens=40, priority=Priority.INTERACTIVE)
    drain(eng)
    assert (eng.records[batch].preemptions, eng.records[interactive].preemptions) == (0, 1)


def test_among_three_running_requests_fifo_preempts_the_last_admitted_first() -> None:
    eng = make_engine(kv_capacity_tokens=128)
    requests = [eng.submit(prompt_tokens=16, output_tokens=40) for _ in range(3)]
    victims = [i for step in drain(eng) for i in step.preempted_request_ids]
    assert victims == [requests[2]]


def _priority_engine_with_two_batch_requests_running(**settings: object) -> tuple[engine.Engine, int, int]:
    eng = make_engine(policy=engine.AdmissionPolicy.PRIORITY, **settings)
    first = eng.submit(prompt_tokens=16, output_tokens=50, priority=Priority.BATCH)
    second = eng.submit(prompt_tokens=16, output_tokens=50, priority=Priority.BATCH)
    eng.step()
    return eng, first, second


def test_victims_already_scheduled_in_the_step_give_their_tokens_back_to_the_budget() -> None:
    # Budget 40, KV 7 blocks of 16. Step 2 admits an interactive decoder (16-token prompt) and the first
    # 22 tokens of a 100-token prompt: the pool is full. In step 3 both batch requests decode first (one
    # token each), then the interactive decoder needs a new block: the newest batch request is preempted
    # and its token refunded; then the long prompt asks for 38 tokens and the older batch request goes
    # too. 1 + 38 = 39 tokens run, the batch requests lose their 17 computed tokens each.
    eng, first, second = _priority_engine_with_two_batch_requests_running(kv_capacity_tokens=112,
                                                                        max_num_batched_tokens=40)
    eng.submit(prompt_tokens=16, output_tokens=5)
    eng.submit(prompt_tokens=100, output_tokens=2)
    eng.step()
    step = eng.step()
    assert step is not None
    assert step.preempted_request_ids == (second, first)
    assert (step.scheduled_tokens, step.lost_tokens, step.generated_tokens) == (39, 34, 1)


def test_a_victim_ahead_of_the_request_being_scheduled_does_not_make_the_next_one_wait() -> None:
    # KV 5 blocks of 16, budget 40. A batch request decodes; an interactive decoder (16-token prompt)
    # and a 40-token interactive prompt join (its first 23 tokens): the pool is full. Next step the
    # interactive decoder needs a block, the batch request ahead of it is preempted, and the prompt
    # behind it still gets its last 17 tokens and its first token in the same step.
    eng = make_engine(kv_capacity_tokens=80, max_num_batched_tokens=40, policy=engine.AdmissionPolicy.PRIORITY)
    batch = eng.submit(prompt_tokens=16, output_tokens=50, priority=Priority.BATCH)
    eng.step()
    eng.submit(prompt_tokens=16, output_tokens=5)
    eng.submit(prompt_tokens=40, output_tokens=2)
    eng.step()
    step = eng.step()
    assert step is not None
    assert (step.preempted_request_ids, step.scheduled_tokens, step.generated_tokens) == ((batch,), 18, 2)

def test_a_request_preempted_twice_counts_two_preemptions() -> None:
    eng, first, second = _priority_engine_with_two_batch_requests_running(kv_capacity_tokens=144,
                                                                        max_num_batched_tokens=66)
    eng.submit(prompt_tokens=128, output_tokens=2)
    steps = drain(eng)
    victims = [i for step in steps for i in step.preempted_request_ids]
    assert (victims.count(first), victims.count(second)) == (1, 2)
    assert (eng.records[first].preemptions, eng.records[second].preemptions) == (1, 2)
    assert steps[1].lost_tokens == 34  # both batch requests, 17 computed tokens each, in one step


def test_a_victim_not_yet_scheduled_refunds_nothing_and_the_budget_is_never_exceeded() -> None:
    # One-token blocks, budget 20, 45 tokens of KV. An interactive request runs first, a batch request
    # of 19 tokens joins, then the first 18 tokens of a 40-token interactive prompt: the pool is full.
    # Next step the first request needs a block: the batch request (behind it, not yet scheduled) is
    # preempted, and the long prompt gets the 19 tokens left of the budget.
    eng = make_engine(kv_capacity_tokens=45, max_num_batched_tokens=20, block_size_tokens=1,
                      policy=engine.AdmissionPolicy.PRIORITY)
    eng.submit(prompt_tokens=5, output_tokens=30)
    eng.step()
    batch = eng.submit(prompt_tokens=19, output_tokens=20, priority=Priority.BATCH)
    eng.step()
    eng.submit(prompt_tokens=40, output_tokens=2)
    eng.step()
    step = eng.step()
    assert step is not None
    assert (step.preempted_request_ids, step.scheduled_tokens) == ((batch,), 20)
    assert all(step.scheduled_tokens <= 20 for step in drain(eng))


# --- the token budget and admission -----------------------------------------------------------


def test_two_decoders_share_a_budget_of_two_tokens_every_step() -> None:
    eng = make_engine(max_num_batched_tokens=2)
    eng.submit(prompt_tokens=1, output_tokens=5)
    eng.submit(prompt_tokens=1, output_tokens=5)
    assert [step.scheduled_tokens for step in drain(eng)] == [2, 2, 2, 2, 2]


def test_admission_spends_the_budget_request_by_request() -> None:
    eng = make_engine(max_num_batched_tokens=10)
    eng.submit(prompt_tokens=4, output_tokens=2)
    eng.submit(prompt_tokens=8, output_tokens=2)
    steps = drain(eng)
    assert [step.scheduled_tokens for step in steps] == [10, 3, 1]  # 4 + 6; a decode + the last 2; a decode
    assert all(step.scheduled_tokens <= 10 for step in steps)


def test_a_last_token_of_budget_admits_the_waiting_head_with_a_one_token_chunk() -> None:
    eng = make_engine(max_num_batched_tokens=5)
    eng.submit(prompt_tokens=4, output_tokens=2)
    eng.submit(prompt_tokens=3, output_tokens=2)
    step = eng.step()
    assert step is not None and (step.scheduled_tokens, step.running, step.waiting) == (5, 2, 0)


def test_a_request_waiting_for_budget_is_not_yet_scheduled() -> None:
    eng = make_engine(max_num_batched_tokens=4)
    eng.submit(prompt_tokens=4, output_tokens=2)
    late = eng.submit(prompt_tokens=4, output_tokens=2)
    first = eng.step()
    assert first is not None and (first.running, first.waiting) == (1, 1)
    drain(eng)
    assert eng.records[late].first_scheduled_seconds == first.end_seconds


def test_admission_never_exceeds_max_num_seqs() -> None:
    eng = make_engine(max_num_seqs=2)
    for _ in range(3):
        eng.submit(prompt_tokens=8, output_tokens=4)
    assert max(step.running for step in drain(eng)) == 2


# --- stretches of pure decodes -----------------------------------------------------------------


def _decoding(prompts: tuple[int, ...] = (64, 64), output_tokens: int = 50, **settings: object) -> engine.Engine:
    """An engine whose requests have all been prefilled and are decoding."""
    eng = make_engine(**settings)
    for prompt in prompts:
        eng.submit(prompt_tokens=prompt, output_tokens=output_tokens)
    eng.step()
    assert eng.running_count == len(prompts) and eng.waiting_count == 0
    return eng


def _pure_decode_steps(eng: engine.Engine) -> int:
    """Steps taken one by one before the first that preempts, finishes or admits anything."""
    count = 0
    while True:
        step = eng.step()
        assert step is not None
        if step.preempted_request_ids or step.finished or step.decode_tokens != step.scheduled_tokens:
            return count
        count += 1


def test_a_stretch_stops_at_the_first_step_that_ends_at_or_after_until_seconds() -> None:
    twin = _decoding()
    first = twin.step()
    assert first is not None
    eng = _decoding()
    stretch = eng.run_decode_stretch(max_steps=100, until_seconds=first.end_seconds)
    assert stretch is not None
    assert (stretch.steps, stretch.running, stretch.scheduled_tokens) == (1, 2, 2)
    assert (stretch.start_seconds, stretch.end_seconds) == (first.start_seconds, first.end_seconds)
    assert eng.busy_seconds == twin.busy_seconds


def test_a_stretch_may_be_a_single_step() -> None:
    eng = _decoding(output_tokens=3)  # one token out; the next step decodes, the one after finishes
    stretch = eng.run_decode_stretch(max_steps=100)
    assert stretch is not None and stretch.steps == 1


def test_a_throttled_stretch_takes_as_long_as_the_throttled_steps_and_counts_as_busy() -> None:
    twin, eng = _decoding(), _decoding()
    for each in (twin, eng):
        each.set_clock_factor(0.5)
    steps = [twin.step() for _ in range(10)]
    stretch = eng.run_decode_stretch(max_steps=10)
    assert stretch is not None and stretch.steps == 10
    assert stretch.end_seconds == pytest.approx(steps[-1].end_seconds, rel=1e-12)
    assert eng.busy_seconds == pytest.approx(twin.busy_seconds, rel=1e-12)


def test_no_stretch_runs_while_stalled_or_with_an_ecc_error_pending() -> None:
    eng = _decoding()
    eng.stall()
    assert eng.run_decode_stretch(max_steps=10) is None
    eng.clear_stall()
    eng.inject_ecc_error()
    assert eng.run_decode_stretch(max_steps=10) is None
    with pytest.raises(errors.EccError):
        eng.step()


def test_no_stretch_runs_when_the_next_step_is_a_prefill_s_last_one_token_chunk() -> None:
    eng = make_engine(max_num_batched_tokens=256)
    eng.submit(prompt_tokens=257, output_tokens=10)
    eng.step()
    assert eng.run_decode_stretch(max_steps=10) is None


def test_a_batch_as_large_as_the_token_budget_still_decodes_in_a_stretch() -> None:
    eng = make_engine(max_num_batched_tokens=2)
    eng.submit(prompt_tokens=1, output_tokens=10)
    eng.submit(prompt_tokens=1, output_tokens=10)
    eng.step()
    stretch = eng.run_decode_stretch(max_steps=100)
    assert stretch is not None and stretch.steps == 8


@pytest.mark.parametrize(("settings", "head_prompt", "joins"), [
    pytest.param({"max_num_batched_tokens": 2}, 8, True, id="one-token-of-budget-left"),
    pytest.param({"max_num_batched_tokens": 1}, 8, False, id="no-budget-left"),
    pytest.param({"max_num_seqs": 1}, 8, False, id="batch-full"),
])
def test_a_stretch_runs_only_while_the_waiting_head_cannot_join(settings: dict[str, int], head_prompt: int,
                                                                joins: bool) -> None:
    eng = _decoding(prompts=(1,), **settings)
    assert eng.run_decode_stretch(max_steps=1) is not None  # decoding alone, it stretches
    eng.submit(prompt_tokens=head_prompt, output_tokens=4)
    stretch = eng.run_decode_stretch(max_steps=100)
    if joins:
        assert stretch is None
    else:
        assert stretch is not None and stretch.steps == 47


@pytest.mark.parametrize(("running_prompt", "joins"), [
    pytest.param(20, True, id="head-fits-exactly"),
    pytest.param(31, True, id="head-fits-before-the-batch-crosses-a-block"),
    pytest.param(32, False, id="the-batch-takes-a-block-first"),
])
def test_the_waiting_head_joins_if_its_blocks_fit_after_the_batch_grows_one_token(running_prompt: int,
                                                                                  joins: bool) -> None:
    # 6 blocks of 16; the running request holds 2, the head's 64-token prompt needs 4 of the 4 free.
    eng = _decoding(prompts=(running_prompt,), kv_capacity_tokens=96)
    eng.submit(prompt_tokens=64, output_tokens=2)
    stretch = eng.run_decode_stretch(max_steps=1)
    assert (stretch is None) == joins
    step = eng.step() if joins else None
    assert step is None or step.running == 2


@pytest.mark.parametrize(("prompts", "output_tokens", "capacity_tokens"), [
    pytest.param((20, 20), 200, 224, id="kv-limited"),
    pytest.param((20, 27), 200, 256, id="uneven-prompts"),
    pytest.param((20, 20), 94, 224, id="window-uses-every-free-block"),
    pytest.param((31, 31), 30, 64, id="one-step-of-room"),
    pytest.param((17, 40, 9), 300, 640, id="three-sequences"),
])
def test_a_stretch_runs_as_far_as_the_kv_cache_lets_the_batch_grow(prompts: tuple[int, ...], output_tokens: int,
                                                                   capacity_tokens: int) -> None:
    expected = _pure_decode_steps(_decoding(prompts, output_tokens, kv_capacity_tokens=capacity_tokens))
    stretch = _decoding(prompts, output_tokens, kv_capacity_tokens=capacity_tokens).run_decode_stretch(
        max_steps=10**6)
    assert expected >= 1 and stretch is not None
    assert stretch.steps == expected and type(stretch.steps) is int
