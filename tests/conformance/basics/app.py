"""Fan-out and collect_events, streaming order, state paths, unicode and
large payloads, asyncio inside a step, a step's exception, an idle run:
written against the reference's imports."""

import asyncio

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Work(Event):
    n: int


class Done(Event):
    n: int
    text: str


class Note(Event):
    text: str


class Left(Event):
    tag: str


class Right(Event):
    tag: str


class Basics(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Work | Left | Right | StopEvent | None:
        mode = ev.get("mode")
        if mode == "order":
            # Sent right first: collect_events answers in the order asked.
            ctx.send_event(Right(tag="r1"))
            ctx.send_event(Right(tag="r2"))
            ctx.send_event(Left(tag="l1"))
            return None
        if mode == "fanout":
            await ctx.store.set("k", ev.get("k"))
            for i in range(ev.get("k")):
                ctx.send_event(Work(n=i))
            return None
        if mode == "stream":
            for i in range(5):
                ctx.write_event_to_stream(Note(text=f"note {i}"))
            return StopEvent(result="streamed")
        if mode == "unicode":
            text = ev.get("text")
            return StopEvent(result={"text": text, "upper": text.upper(), "length": len(text)})
        if mode == "large":
            blob = ev.get("blob")
            return StopEvent(result={"length": len(blob), "tail": blob[-8:]})
        if mode == "state":
            await ctx.store.set("user.profile.name", "Ada")
            await ctx.store.set("items", [1, 2, 3])
            name = await ctx.store.get("user.profile.name")
            second = await ctx.store.get("items.1")
            missing = await ctx.store.get("nope", default="fallback")
            return StopEvent(result={"name": name, "second": second, "missing": missing})
        if mode == "asyncio":
            order = []

            async def later(name, delay):
                await asyncio.sleep(delay)
                order.append(name)

            await asyncio.gather(later("slow", 0.05), later("fast", 0.01))
            try:
                await asyncio.wait_for(asyncio.sleep(5), 0.01)
            except asyncio.TimeoutError:
                order.append("timed out")
            return StopEvent(result=order)
        if mode == "raise":
            raise ValueError(f"bad value: {ev.get('value')}")
        # "idle": nothing more to do; the run idles until its timeout.
        return None

    @step(num_workers=4)
    async def work(self, ev: Work) -> Done:
        return Done(n=ev.n, text=f"done {ev.n}")

    @step
    async def gather(self, ctx: Context, ev: Done) -> StopEvent | None:
        k = await ctx.store.get("k")
        done = ctx.collect_events(ev, [Done] * k)
        if done is None:
            return None
        return StopEvent(result=sorted(d.n for d in done))

    @step
    async def pair(self, ctx: Context, ev: Left | Right) -> StopEvent | None:
        got = ctx.collect_events(ev, [Left, Right, Right])
        if got is None:
            return None
        return StopEvent(result=[f"{type(e).__name__}:{e.tag}" for e in got])
