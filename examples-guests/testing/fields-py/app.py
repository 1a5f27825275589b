"""A workflow written against pydantic: `Field(ge=0)`, a nested
`BaseModel`, lax conversion (`{"qty": "2"}` gives 2) and a pydantic model
as the typed state."""

from pydantic import BaseModel, Field

from wflow import Context, Event, StartEvent, StopEvent, Workflow, step


class Line(BaseModel):
    sku: str = Field(min_length=1)
    price: float = Field(gt=0)


class Order(StartEvent):
    qty: int = Field(ge=0, description="how many")
    line: Line = Field(default_factory=lambda: Line(sku="tea", price=2.5))
    rush: bool = False


class Priced(Event):
    total: float


class Tally(BaseModel):
    orders: int = 0


class Fields(Workflow):
    state = Tally

    @step
    async def price(self, ctx: Context, ev: Order) -> Priced:
        async with ctx.store.edit_state() as state:
            state.orders += 1
        return Priced(total=ev.qty * ev.line.price * (2 if ev.rush else 1))

    @step
    async def report(self, ctx: Context, ev: Priced) -> StopEvent:
        # Lax conversion in Python code too: "5" is an int here.
        check = Order(qty="5")
        state = await ctx.store.get_state()
        return StopEvent(result={"total": ev.total, "check": check.qty, "orders": state.orders})
