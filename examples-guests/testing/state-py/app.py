"""Typed state edited by eight concurrent workers: no update is lost."""

from wflow import Context, Event, StartEvent, State, StopEvent, Workflow, step


class Counter(State):
    """The workflow's state."""

    count: int = 0
    n: int = 0


class Increment(Event):
    """Add one to the counter."""


class Incremented(Event):
    """One increment is done."""


class CounterFlow(Workflow):
    state = Counter

    @step(emits=[Increment])
    async def spawn_increments(self, ctx: Context[Counter], ev: StartEvent) -> None:
        n = ev.get("n", 100)
        await ctx.store.set("n", n)
        for _ in range(n):
            ctx.send_event(Increment())

    @step(num_workers=8)
    async def increment(self, ctx: Context[Counter], ev: Increment) -> Incremented:
        async with ctx.store.edit_state() as state:
            state.count += 1
        return Incremented()

    @step(num_workers=1)
    async def report(self, ctx: Context[Counter], ev: Incremented) -> StopEvent | None:
        state = await ctx.store.get_state()
        if ctx.collect_events(ev, [Incremented] * state.n) is None:
            return None
        state = await ctx.store.get_state()
        # A failed edit is discarded: the exception leaves the state as it was.
        try:
            async with ctx.store.edit_state() as editing:
                editing.count = -1
                raise KeyError("discard me")
        except KeyError:
            pass
        # A write that breaks the state schema fails with ValueError.
        try:
            await ctx.store.set("count", "not a number")
            schema_check = "accepted?!"
        except ValueError as err:
            schema_check = f"ValueError: {err}"
        after = await ctx.store.get("count")
        return StopEvent(result={"count": state.count, "after_discarded_edit": after,
                                 "schema_check": schema_check})
