"""A workflow whose steps return two different stop events: refused
before it runs (a workflow has one result type). Written against the
reference's imports."""

from workflows import Workflow, step
from workflows.events import StartEvent, StopEvent


class Done(StopEvent):
    text: str


class GaveUp(StopEvent):
    reason: str


class TwoStops(Workflow):
    @step
    async def decide(self, ev: StartEvent) -> Done | GaveUp:
        return Done(text="done")
