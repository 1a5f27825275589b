"""The golden workflow, in Python: one of three identical workflows (with
`golden` in Rust and `golden-js`) whose `describe` outputs
`tests/sdk_agreement.rs` requires to be byte-identical. It takes an order (a
step with the default options), prices it (a step with workers, a retry
policy and a timeout), and asks a human to approve it (a step waiting for a
`HumanResponseEvent`), keeping a ledger in typed state and ending with a
custom stop event.

Keep the three in step: same types, fields, docs, steps and options, in the
same order."""

from typing import Optional

from wflow import (ConstantDelayRetryPolicy, Context, Event, ExponentialBackoffRetryPolicy, Field,
                   HumanResponseEvent, InputRequiredEvent, StartEvent, State, StopEvent, Workflow, step)


class Ledger(State):
    """The workflow's ledger."""

    orders: int = 0
    approvals: list[str] = Field(default_factory=list)
    last_order: Optional[str] = None


class Customer(Event):
    """Who placed an order."""

    name: str
    vip: bool


class Order(Event):
    """An order to price."""

    id: str
    quantity: int
    price: float
    express: bool
    tags: list[str]
    note: Optional[str] = None
    customer: Customer


class Priced(Event):
    """An order with its total."""

    order_id: str
    total: float


class Receipt(StopEvent):
    """The reviewed order: the run's result."""

    order_id: str
    total: float
    approved: bool
    reviewer: Optional[str] = None


class GoldenFlow(Workflow):
    state = Ledger

    @step
    async def take_order(self, ctx: Context[Ledger], ev: StartEvent) -> Order:
        async with ctx.store.edit_state() as ledger:
            ledger.orders += 1
            ledger.last_order = ev.id
        return Order(
            id=ev.id,
            quantity=ev.get("quantity", 1),
            price=ev.price,
            express=ev.get("express", False),
            tags=ev.get("tags", []),
            note=ev.get("note"),
            customer=Customer(name=ev.customer, vip=ev.get("vip", False)),
        )

    @step(
        num_workers=2,
        timeout=30,
        retry_policy=ExponentialBackoffRetryPolicy(
            initial_delay=0.25, maximum_attempts=5, multiplier=3, max_delay=4, jitter=0.25,
            retry_on=["TransientError"],
        ),
    )
    async def price(self, ev: Order) -> Priced:
        rate = 1.5 if ev.express else 1.0
        return Priced(order_id=ev.id, total=ev.quantity * ev.price * rate)

    @step(retry_policy=ConstantDelayRetryPolicy(), emits=[InputRequiredEvent], waits=[HumanResponseEvent])
    async def review(self, ctx: Context[Ledger], ev: Priced) -> Receipt:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"Approve order {ev.order_id} for {ev.total}? "),
            waiter_id="review",
            timeout=600,
        )
        reviewer = answer.get("response", "").strip()
        approved = reviewer == "yes"
        if approved:
            async with ctx.store.edit_state() as ledger:
                ledger.approvals.append(ev.order_id)
        return Receipt(order_id=ev.order_id, total=ev.total, approved=approved, reviewer=reviewer)
