"""The work model: FIFO servers with a bounded waiting room, and service-time sampling.

Aspects: servers are handed over in arrival order; a full waiting room sheds; a cancelled waiter
leaves no server leaked; each distribution has the configured mean and spread.
"""
import asyncio
import random
import statistics

import pytest

from services.common import settings, working


def test_waiters_get_servers_in_arrival_order():
    async def scenario():
        station = working.Station(servers=1, queue_limit=10)
        await station.acquire()
        order = []

        async def customer(i):
            await station.acquire()
            order.append(i)
            station.release()

        tasks = [asyncio.create_task(customer(i)) for i in range(5)]
        await asyncio.sleep(0)  # let all five queue up
        station.release()
        await asyncio.gather(*tasks)
        return order, station.busy

    order, busy = asyncio.run(scenario())
    assert order == [0, 1, 2, 3, 4]
    assert busy == 0


def test_a_full_waiting_room_sheds_the_next_arrival():
    async def scenario():
        station = working.Station(servers=2, queue_limit=1)
        await station.acquire()
        await station.acquire()
        waiting = asyncio.create_task(station.acquire())
        await asyncio.sleep(0)
        with pytest.raises(working.Shed):
            await station.acquire()
        assert station.waiting == 1
        station.release()
        await waiting
        return station.busy

    assert asyncio.run(scenario()) == 2


def test_a_cancelled_waiter_does_not_leak_a_server():
    async def scenario():
        station = working.Station(servers=1, queue_limit=5)
        await station.acquire()
        waiter = asyncio.create_task(station.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        station.release()
        return station.busy, station.waiting

    assert asyncio.run(scenario()) == (0, 0)


@pytest.mark.parametrize("spec, scv", [
    pytest.param({"distribution": "exponential", "mean_seconds": 0.02}, 1.0, id="exponential"),
    pytest.param({"distribution": "deterministic", "mean_seconds": 0.02}, 0.0, id="deterministic"),
    pytest.param({"distribution": "lognormal", "mean_seconds": 0.02, "sigma": 0.5}, 0.284, id="lognormal"),
])
def test_service_times_have_the_configured_mean_and_spread(spec, scv):
    service_time = settings.ServiceTime(**spec)
    rng = random.Random(3)
    draws = [working.sample_service_time_seconds(service_time, rng) for _ in range(40_000)]
    mean = statistics.fmean(draws)
    assert mean == pytest.approx(0.02, rel=0.03)
    assert statistics.pvariance(draws) / mean**2 == pytest.approx(scv, abs=0.05)
    assert service_time.scv == pytest.approx(scv, abs=0.001)


def test_cpu_work_uses_cpu_time_and_wait_work_does_not():
    import time
    before = time.process_time()
    asyncio.run(working.perform_work(0.05, "cpu"))
    burned = time.process_time() - before
    before = time.process_time()
    asyncio.run(working.perform_work(0.05, "wait"))
    waited = time.process_time() - before
    assert burned >= 0.045
    assert waited < 0.02


def test_waiting_work_counts_from_the_hand_over_not_from_when_the_loop_resumed():
    import time
    granted_long_ago = time.monotonic() - 10
    started = time.monotonic()
    asyncio.run(working.perform_work(5.0, "wait", granted_at=granted_long_ago))
    assert time.monotonic() - started < 2.0  # the 5 s ended before the coroutine ran: no sleep


def test_a_handed_over_server_reports_when_it_was_granted():
    import time

    async def scenario():
        station = working.Station(servers=1, queue_limit=1)
        await station.acquire()
        waiter = asyncio.create_task(station.acquire())
        await asyncio.sleep(0)
        released_at = time.monotonic()
        station.release()
        return released_at, await waiter

    released_at, granted_at = asyncio.run(scenario())
    assert released_at <= granted_at <= released_at + 0.5
