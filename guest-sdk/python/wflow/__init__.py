"""wflow's Python guest SDK: write workflow steps as with LlamaIndex
Workflows, compiled to a WebAssembly component with componentize-py.

    from wflow import Context, Event, StartEvent, StopEvent, Workflow, step

    class Joke(Event):
        text: str

    class JokeFlow(Workflow):
        @step
        async def write_joke(self, ctx: Context, ev: StartEvent) -> Joke:
            await ctx.store.set("topic", ev.topic)
            return Joke(text=f"a joke about {ev.topic}")

        @step(num_workers=2)
        async def critique(self, ev: Joke) -> StopEvent:
            return StopEvent(result=ev.text)

Pure Python, no dependencies: importable in plain CPython (the bindings
are only needed by `wflow._component`, which the build's entry imports).
"""

from ._model import Field, Model, ValidationError
from .context import Context, DictState, State, StateStore
from .errors import (
    StepError,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)
from .events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from .retry_policy import ConstantDelayRetryPolicy, ExponentialBackoffRetryPolicy, RetryPolicy
from .workflow import Workflow, step

__version__ = "0.1.0"

__all__ = [
    "ConstantDelayRetryPolicy",
    "Context",
    "DictState",
    "Event",
    "ExponentialBackoffRetryPolicy",
    "Field",
    "HumanResponseEvent",
    "InputRequiredEvent",
    "Model",
    "RetryPolicy",
    "StartEvent",
    "State",
    "StateStore",
    "StepError",
    "StopEvent",
    "ValidationError",
    "Workflow",
    "WorkflowConfigurationError",
    "WorkflowRuntimeError",
    "WorkflowStepDoesNotExistError",
    "WorkflowTimeoutError",
    "WorkflowValidationError",
    "step",
]
