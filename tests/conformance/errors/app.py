"""Retries, exhausted retries, a targeted send_event to a step that does
not exist or does not take the event, a blocking step past the run's timeout: written against the
reference's imports."""

import time

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent
from workflows.retry_policy import ConstantDelayRetryPolicy


class Ping(Event):
    n: int


class Errors(Workflow):
    @step(retry_policy=ConstantDelayRetryPolicy(maximum_attempts=3, delay=0.01))
    async def begin(self, ctx: Context, ev: StartEvent) -> Ping | StopEvent:
        mode = ev.get("mode")
        if mode == "retry":
            attempts = await ctx.store.get("attempts", default=0) + 1
            await ctx.store.set("attempts", attempts)
            if attempts < 3:
                raise RuntimeError(f"attempt {attempts} failed")
            return StopEvent(result={"attempts": attempts})
        if mode == "exhaust":
            raise KeyError("always")
        if mode == "no_such_step":
            ctx.send_event(Ping(n=1), step="nowhere")
            return StopEvent(result="sent")
        if mode == "wrong_step":
            ctx.send_event(Ping(n=1), step="begin")
            return StopEvent(result="sent")
        return Ping(n=0)

    @step
    async def slow(self, ev: Ping) -> StopEvent:
        time.sleep(1.5)  # blocks: no await
        return StopEvent(result="woke")
