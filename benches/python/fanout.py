"""The fan-out workload on llama-index-workflows (the reference), the same
shape as `examples-guests/fanout`: one step sends N Work events, a step with
4 workers turns each into a WorkDone, a collector gathers all N and stops
with their sum. Prints the seconds one run takes for each N given, so the
growth can be set beside wflow's (docs/BENCHMARKS.md).

    python3 -m venv .venv && .venv/bin/pip install llama-index-workflows==2.26.1
    .venv/bin/python benches/python/fanout.py 250 500 1000 2000
"""

import asyncio
import sys
import time

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Work(Event):
    value: int


class WorkDone(Event):
    value: int


class FanOut(Workflow):
    @step
    async def fan_out(self, ctx: Context, ev: StartEvent) -> Work | None:
        n = ev.get("n", 100)
        await ctx.store.set("n", n)
        for value in range(n):
            ctx.send_event(Work(value=value))
        return None

    @step(num_workers=4)
    async def work(self, ev: Work) -> WorkDone:
        return WorkDone(value=ev.value)

    @step(num_workers=1)
    async def gather(self, ctx: Context, ev: WorkDone) -> StopEvent | None:
        n = await ctx.store.get("n")
        done = ctx.collect_events(ev, [WorkDone] * n)
        if done is None:
            return None
        return StopEvent(result={"sum": sum(d.value for d in done), "count": len(done)})


async def main(sizes):
    for n in sizes:
        started = time.perf_counter()
        result = await FanOut(timeout=None).run(n=n)
        elapsed = time.perf_counter() - started
        assert result == {"sum": n * (n - 1) // 2, "count": n}, result
        print(f"n={n} seconds={elapsed:.3f} result={result}", flush=True)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [250, 500, 1000]))
