"""A step that raises `ValueError("bad value: 42")`: the run's caller gets
the step's own error, its kind `ValueError`, as the reference raises it."""

from wflow import StartEvent, StopEvent, Workflow, step


class Raises(Workflow):
    @step
    async def first(self, ev: StartEvent) -> StopEvent:
        raise ValueError(f"bad value: {ev.get('value', 42)}")
