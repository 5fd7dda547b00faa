"""ModelGate: bounded FIFO admission to the model, refusals with the busy message, cancelled waiters."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from r1omni.ui.admission import Busy, ModelGate


def run_isolated(coro):
    """asyncio.run in a thread of its own: earlier tests in the session (Playwright, Gradio) may leave an
    event loop running in the main thread, where asyncio.run refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_admits_in_order_up_to_the_bound_and_refuses_beyond():
    async def scenario():
        gate, order, release = ModelGate(2), [], asyncio.Event()

        async def job(i):
            async with gate.admit() as ahead:
                order.append((i, ahead))
                if i == 0:
                    await release.wait()

        tasks = [asyncio.create_task(job(i)) for i in range(3)]
        await asyncio.sleep(0)
        assert (gate.running, gate.waiting) == (1, 2)
        with pytest.raises(Busy, match=r"^Busy: 2 requests are queued for the model; retry in a moment$"):
            async with gate.admit():
                pass
        release.set()
        await asyncio.gather(*tasks)
        return gate, order

    gate, order = run_isolated(scenario())
    assert order == [(0, 0), (1, 1), (2, 2)] and gate.refused == 1
    assert (gate.running, gate.waiting) == (0, 0)


def test_a_cancelled_waiter_frees_its_place():
    async def scenario():
        gate, release = ModelGate(1), asyncio.Event()

        async def hold():
            async with gate.admit():
                await release.wait()

        async def wait():
            async with gate.admit():
                pass

        first = asyncio.create_task(hold())
        await asyncio.sleep(0)
        waiter = asyncio.create_task(wait())
        await asyncio.sleep(0)
        assert gate.waiting == 1
        waiter.cancel()  # the client went away while waiting
        await asyncio.gather(waiter, return_exceptions=True)
        assert gate.waiting == 0
        again = asyncio.create_task(wait())  # its place is free again
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, again)
        return gate

    gate = run_isolated(scenario())
    assert (gate.running, gate.waiting, gate.refused) == (0, 0, 0)


def test_one_waiting_is_said_in_the_singular_and_zero_may_wait():
    async def scenario():
        gate, release = ModelGate(0), asyncio.Event()

        async def hold():
            async with gate.admit():
                await release.wait()

        first = asyncio.create_task(hold())
        await asyncio.sleep(0)
        with pytest.raises(Busy, match="^Busy: 0 requests are queued"):
            async with gate.admit():
                pass
        release.set()
        await first

    run_isolated(scenario())
    gate = ModelGate(1)
    gate.waiting = 1
    assert gate.busy_message() == "Busy: 1 request is queued for the model; retry in a moment"


def test_a_waiting_ticket_knows_its_place_and_an_estimate_once_one_request_was_measured():
    async def scenario():
        gate = ModelGate(4)
        first = gate.ticket()
        assert await first.wait(0.1)
        second, third = gate.ticket(), gate.ticket()
        places = (second.place(), third.place())
        no_estimate = gate.estimate_s(third.place())
        assert not await second.wait(0.05)  # still the first's turn
        await asyncio.sleep(0.2)
        first.release()  # measured: about 0.25 s per request
        assert await second.wait(1.0)
        estimate = (gate.estimate_s(third.place()), gate.seconds_per_request)
        second.release()
        assert await third.wait(1.0)
        third.release()
        return places, no_estimate, estimate, gate

    places, no_estimate, estimate, gate = run_isolated(scenario())
    assert places == (1, 2) and no_estimate is None
    assert 0.2 <= estimate[1] and 0.0 < estimate[0] <= estimate[1]  # what is left of the running one
    assert (gate.running, gate.waiting) == (0, 0)
