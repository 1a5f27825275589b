"""A workflow no step of which takes the StartEvent: refused before it
runs. Written against the reference's imports."""

from workflows import Workflow, step
from workflows.events import Event, StopEvent


class Middle(Event):
    n: int


class NoStart(Workflow):
    @step
    async def middle(self, ev: Middle) -> StopEvent:
        return StopEvent(result=ev.n)
