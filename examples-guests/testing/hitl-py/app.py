"""Human in the loop, in Python: `wait_for_event` with a waiter, a returned
InputRequiredEvent answered by a step, a custom human-response type with
requirements, and a timeout. Free-function steps (no Workflow class)."""

from wflow import (Context, Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent,
                   step)


class Approval(Event):
    """An approval sent in from outside, filtered by `user`."""

    user: str
    ok: bool


class AskName(Event):
    """Ask for a name with wait_for_event."""


class RequireAda(Event):
    """Wait for Ada's approval."""


class WaitBriefly(Event):
    """Wait for an approval that does not come."""

    seconds: float = 0.1


@step
def route(ev: StartEvent) -> AskName | InputRequiredEvent | RequireAda | WaitBriefly:
    mode = ev.get("mode", "ask")
    if mode == "return":
        return InputRequiredEvent(prefix="Your answer? ")
    if mode == "require":
        return RequireAda()
    if mode == "timeout":
        return WaitBriefly(seconds=ev.get("seconds", 0.1))
    return AskName()


@step
async def ask_name(ctx: Context, ev: AskName) -> StopEvent:
    answer = await ctx.wait_for_event(
        HumanResponseEvent,
        waiter_event=InputRequiredEvent(prefix="What's your name? "),
        waiter_id="name",
        timeout=600,
    )
    name = answer.get("response", "stranger").strip()
    await ctx.store.set("name", name)
    return StopEvent(result=f"Hello, {name}!")


@step
def answer(ev: HumanResponseEvent) -> StopEvent:
    return StopEvent(result=f"answered: {ev.response}")


@step(waits=[Approval])
async def require_ada(ctx: Context, ev: RequireAda) -> StopEvent:
    approval = await ctx.wait_for_event(
        Approval,
        waiter_event=InputRequiredEvent(prefix="Ada must approve"),
        requirements={"user": "ada"},
    )
    return StopEvent(result={"user": approval.user, "ok": approval.ok})


@step(waits=[Approval])
async def wait_briefly(ctx: Context, ev: WaitBriefly) -> StopEvent:
    try:
        await ctx.wait_for_event(Approval, timeout=ev.seconds)
    except TimeoutError as err:
        return StopEvent(result=f"timed out: {err}")
    return StopEvent(result="approved?!")
