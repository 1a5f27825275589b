"""The asyncio event loop a step runs on.

The sandbox has no sockets, so asyncio's own loop (which wakes itself
through a socket pair) cannot start there. This loop waits on nothing but
the clock: when no callback is ready it sleeps until the next timer is due,
a sleep the host serves on its own clock (the guest holds no CPU meanwhile,
and the step's timeout still interrupts it). Everything asyncio builds on
timers and futures works as in the reference: `asyncio.sleep`, `gather`,
`create_task`, `wait_for`, `timeout`, `Event`, `Queue`, async generators
and context managers. What needs a thread or a socket does not
(`run_in_executor`, `to_thread`, streams, subprocesses).

Each step call runs on a loop of its own, closed when the call returns: as
`asyncio.run` does, tasks the step left running are cancelled first.
"""

import asyncio
import time

__all__ = ["run"]


class _ClockSelector:
    """What the loop waits on: no file descriptor, only time."""

    def __init__(self, what):
        self._what = what

    def select(self, timeout):
        if timeout is None:
            # Nothing is ready and no timer is due: nothing inside the step
            # can ever wake it.
            raise RuntimeError(
                f"{self._what} awaits something that nothing can complete "
                "(a future never resolved, an event never set): it would wait forever")
        if timeout > 0:
            time.sleep(timeout)
        return []

    def get_map(self):
        return {}

    def close(self):
        pass


class _StepLoop(asyncio.BaseEventLoop):
    """An event loop of timers and callbacks only."""

    def __init__(self, what):
        super().__init__()
        self._selector = _ClockSelector(what)

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        # One thread: the loop is never asleep while another thread schedules.
        pass


def run(coroutine, what):
    """Runs `coroutine` to completion on a fresh loop and returns its value
    (or raises its exception); `what` names the step in errors."""
    loop = _StepLoop(what)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coroutine)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all_tasks(loop):
    """Cancels the tasks still pending on `loop` and lets them finish, as
    `asyncio.run` does."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
