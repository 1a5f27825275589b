"""The Python part of the polyglot workflow: `ask` takes the Rust step's
`Draft`, asks a human whom to greet (wait_for_event with an
InputRequiredEvent), records itself in the shared state and hands an
`Answered` to the JavaScript step. This component owns `Answered`; `Draft`
is owned by the Rust component and declared here, with the same fields, to
decode it."""

import platform
import sys

from wflow import Context, Event, HumanResponseEvent, InputRequiredEvent, Workflow, step


class Draft(Event):
    """A greeting drafted in Rust (owned by the Rust component)."""

    name: str
    greeting: str


class Answered(Event):
    """The human's answer, for the JavaScript step."""

    answer: str
    greeting: str


class Ask(Workflow):
    @step(num_workers=1)
    async def ask(self, ctx: Context, ev: Draft) -> Answered:
        # Wait first, write after: a run resumed from a checkpoint runs this
        # step again from the top (answered while the run lives, the call
        # goes on from here).
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"{ev.greeting}! Whom shall we greet instead? "),
            waiter_id="polyglot-name",
            timeout=600,
        )
        answer = reply.get("response", "").strip() or ev.name
        await ctx.store.set("languages.python", {
            "step": ctx.step_name,
            "runtime": f"{sys.implementation.name} {platform.python_version()} on {sys.platform}",
        })
        async with ctx.store.edit_state() as state:
            state.ran.append("python")
        return Answered(answer=answer, greeting=f"Hello, {answer}")
