"""asyncio inside a step: `gather`, `create_task`, `wait_for` and
`timeout` on the SDK's event loop, whose sleeps the host serves on its own
clock (the guest holds no CPU while it waits)."""

import asyncio
import time

from wflow import Context, StartEvent, StopEvent, Workflow, step


class AsyncFlow(Workflow):
    @step(timeout=2.0)
    async def run(self, ctx: Context, ev: StartEvent) -> StopEvent:
        if ev.get("oversleep", False):
            await asyncio.sleep(30)
        pause = float(ev.get("pause", 0.5))
        order = []

        async def later(name, delay):
            await asyncio.sleep(delay)
            order.append(name)
            return name

        started = time.monotonic()
        # Both sleeps are pending at once: the shorter one, started second,
        # ends first, and the pair takes as long as the longer one.
        both = await asyncio.gather(later("slow", pause), later("fast", pause * 0.8))
        elapsed = time.monotonic() - started
        task = asyncio.create_task(later("task", 0))
        try:
            await asyncio.wait_for(asyncio.sleep(5), 0.05)
            timed_out = False
        except TimeoutError:
            timed_out = True
        await ctx.store.set("seen", len(order))
        async with asyncio.timeout(1):
            seen = await ctx.store.get("seen")
        await task
        return StopEvent(result={
            "both": both,
            "order": order,
            "elapsed": round(elapsed, 1),
            "timed_out": timed_out,
            "seen": seen,
        })
