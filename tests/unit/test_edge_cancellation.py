"""A cancellation swallowed by a library (Python 3.11's ``asyncio.wait_for`` drops one that
arrives as its future completes; aiomqtt waits for the CONNACK with it) still stops the
agent's connection loop at its next step."""

from __future__ import annotations

import asyncio

import pytest

from devices.cancellation import raise_if_cancelled


async def test_a_task_whose_cancellation_was_swallowed_stops_at_the_next_check() -> None:
    steps: list[str] = []

    async def connect_then_serve() -> None:
        try:
            await asyncio.sleep(10)           # the connect, cancelled ...
        except asyncio.CancelledError:
            steps.append("swallowed")         # ... and the library returns as if connected
        raise_if_cancelled()
        steps.append("served")                # never: the agent would serve forever

    task = asyncio.create_task(connect_then_serve())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["swallowed"]


async def test_a_task_not_being_cancelled_goes_on() -> None:
    async def step() -> str:
        raise_if_cancelled()
        return "went on"

    assert await asyncio.create_task(step()) == "went on"


async def test_the_hall_cancels_again_a_task_that_swallowed_its_cancellation() -> None:
    from hall.stopping import cancel_and_wait

    swallowed = asyncio.Event()

    async def serves_on() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            swallowed.set()                   # as asyncio.wait_for in 3.11 may
        await asyncio.Event().wait()          # ... and then serves on, waiting for work

    task = asyncio.create_task(serves_on())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, "a device", every_s=0.05), timeout=5)
    assert swallowed.is_set() and task.cancelled()
