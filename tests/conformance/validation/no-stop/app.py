"""A workflow no step of which returns a StopEvent: refused before it
runs. Written against the reference's imports."""

from workflows import Workflow, step
from workflows.events import Event, StartEvent


class Middle(Event):
    n: int


class NoStop(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Middle:
        return Middle(n=1)

    @step
    async def end(self, ev: Middle) -> None:
        return None
