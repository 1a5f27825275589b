"""Human in the loop: a returned InputRequiredEvent answered by a
HumanResponseEvent, and wait_for_event with requirements and a timeout:
written against the reference's imports."""

from workflows import Context, Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class Approval(Event):
    user: str
    ok: bool


class Hitl(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent | StopEvent:
        if ev.get("mode") == "ask":
            return InputRequiredEvent(prefix="Your name? ")
        before = await ctx.store.get("before", default=0)
        await ctx.store.set("before", before + 1)
        approval = await ctx.wait_for_event(
            Approval,
            waiter_event=InputRequiredEvent(prefix="Ada must approve"),
            waiter_id="approval",
            requirements={"user": "ada"},
            timeout=ev.get("wait", 5.0),
        )
        if ev.get("mode") == "count":
            return StopEvent(result={"ran_before_the_wait": await ctx.store.get("before")})
        return StopEvent(result={"user": approval.user, "ok": approval.ok})

    @step
    async def answered(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"Hello, {ev.response}!")
