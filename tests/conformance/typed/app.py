"""A custom start event with pydantic fields, a custom stop event, a typed
state (a pydantic model): lax input, constraints, a field the state does
not have. Written against the reference's imports."""

from pydantic import BaseModel, Field

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Counter(BaseModel):
    count: int = 0
    names: list[str] = Field(default_factory=list)


class Order(StartEvent):
    qty: int = Field(ge=0, description="how many")
    name: str = "anon"
    rush: bool = False


class Mid(Event):
    x: int


class Receipt(StopEvent):
    total: int
    names: list[str]
    mid: int


class Typed(Workflow):
    @step
    async def begin(self, ctx: Context[Counter], ev: Order) -> Mid:
        async with ctx.store.edit_state() as state:
            state.count += ev.qty * (2 if ev.rush else 1)
            state.names.append(ev.name)
            if ev.name == "intruder":
                state.extra = 1
        return Mid(x="5")

    @step
    async def finish(self, ctx: Context[Counter], ev: Mid) -> Receipt:
        state = await ctx.store.get_state()
        return Receipt(total=state.count, names=state.names, mid=ev.x)
