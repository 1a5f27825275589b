"""Fan out N work items to a step with four workers, collect the results,
stop with their sum."""

from wflow import Context, Event, StartEvent, StopEvent, Workflow, step


class Work(Event):
    """One item of work."""

    value: int


class WorkDone(Event):
    """A finished item."""

    value: int


class FanOut(Workflow):
    @step(emits=[Work])
    async def fan_out(self, ctx: Context, ev: StartEvent) -> None:
        n = ev.get("n", 100)
        await ctx.store.set("n", n)
        for value in range(n):
            ctx.send_event(Work(value=value))

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
