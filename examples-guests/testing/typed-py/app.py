"""Typed events end to end: a custom start event with nested and optional
fields, a custom stop event (the result is the whole event), a step
accepting a union, a plain `def` step, and context errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from wflow import Context, Event, Field, Model, StartEvent, StopEvent, Workflow, step


class Item(Model):
    """One line of an order."""

    name: str
    qty: int = 1
    price: float


@dataclass
class Address:
    city: str
    zip: Optional[str] = None


class Order(StartEvent):
    """The run's input: an order."""

    items: list[Item]
    ship_to: Optional[Address] = None
    notes: dict[str, str] = Field(default_factory=dict, description="free-form notes")
    mode: Literal["ok", "bad_target"] = "ok"


class Priced(Event):
    total: float
    lines: int


class Skipped(Event):
    reason: str


class Receipt(StopEvent):
    """The result: the whole receipt."""

    total: float
    lines: int
    city: str | None
    running: list[str]


class Shop(Workflow):
    @step
    async def price(self, ctx: Context, ev: Order) -> Priced | Skipped:
        if ev.mode == "bad_target":
            ctx.send_event(Skipped(reason="x"), step="no_such_step")
        await ctx.store.set("city", ev.ship_to.city if ev.ship_to else None)
        if not ev.items:
            return Skipped(reason="empty order")
        return Priced(total=sum(i.qty * i.price for i in ev.items), lines=len(ev.items))

    @step
    def finish(self, ctx: Context, ev: Priced | Skipped) -> Receipt:
        # A plain `def` step: the store's awaitables are read with .result().
        city = ctx.store.get("city").result()
        running = ctx.running_steps().result()
        if isinstance(ev, Skipped):
            return Receipt(total=0.0, lines=0, city=city, running=running)
        return Receipt(total=ev.total, lines=ev.lines, city=city, running=running)
