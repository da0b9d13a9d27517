"""Stopping a task whose cancellation a library swallowed."""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Stop a task that is being cancelled but was not told.

    Python 3.11's ``asyncio.wait_for`` drops a cancellation that arrives just as the future it
    waits for completes (gh-86296, fixed in 3.12), and aiomqtt waits with it for the CONNACK,
    every PUBACK and SUBACK: a demo stopped while its devices connected or published left one
    serving forever, so the hall never stopped. The controller's own bus and live feed wait the
    same way. The task's ``cancelling()`` count still says what happened: every loop of the
    agents and of the controller's connections checks it before its next step.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
