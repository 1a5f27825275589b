"""`describe` and `handle` over the steps the user's module registered, in
plain Python data (no generated bindings: `_component` converts them to the
WIT types, the tests and `python -m wflow` use them directly)."""

import inspect
import sys
import traceback

from . import _loop
from ._model import Model, ValidationError, canonical, json_schema
from .context import Context
from .errors import StepError, WorkflowConfigurationError, WorkflowValidationError
from .events import Event, event_kind, event_name
from . import workflow as _wf

__all__ = ["describe", "handle", "StepFailure", "reset"]


class StepFailure(Exception):
    """A step failed: `kind` is the WIT step-error case ("failed",
    "invalid-event" or "context"), `value` its payload (the (kind, message)
    of the error raised, a message, or the (kind, message) of the context
    error)."""

    def __init__(self, kind, value):
        super().__init__(kind, value)
        self.kind = kind
        self.value = value


class _BoundStep:
    def __init__(self, info, owner, signature):
        self.info = info
        self.owner = owner  # the Workflow subclass of a method step, else None
        self.signature = signature
        self.by_name = {event_name(cls): cls for cls in signature.accepts}


class _Component:
    def __init__(self):
        self.steps = {}
        self.order = []
        self.state_cls = None
        self._instances = {}
        workflows = [cls for cls in _wf._WORKFLOWS
                     if not any(other is not cls and issubclass(other, cls) for other in _wf._WORKFLOWS)]
        # What the host's validation messages call the workflow, as the
        # reference calls it by its class: the one Workflow subclass the
        # module defines (several give no one name).
        self.workflow_name = workflows[0].__name__ if len(workflows) == 1 else None
        entries = []
        for cls in workflows:
            for info, is_method in cls._step_entries():
                entries.append((info, cls if is_method else None, is_method))
        for info in _wf._FREE_STEPS:
            entries.append((info, None, False))
        entries.sort(key=lambda entry: entry[0].seq)
        state_from = {}
        for cls in workflows:
            if cls.state is not None:
                state_from.setdefault(cls.state, f"{cls.__name__}.state")
        for info, owner, is_method in entries:
            if info.name in self.steps:
                raise WorkflowValidationError(
                    f"A step {info.name} is already part of this workflow, please choose another name.")
            signature = info.signature(is_method)
            if signature.state_cls is not None:
                state_from.setdefault(signature.state_cls, f"step `{info.name}` (Context[...])")
            self.steps[info.name] = _BoundStep(info, owner, signature)
            self.order.append(info.name)
        if len(state_from) > 1:
            raise WorkflowConfigurationError(
                "a workflow has one state type, but several are declared: "
                + ", ".join(f"{cls.__name__} by {where}" for cls, where in state_from.items()))
        if state_from:
            self.state_cls = _check_state(next(iter(state_from)))

    def instance(self, cls):
        obj = self._instances.get(cls)
        if obj is None:
            try:
                obj = self._instances[cls] = cls()
            except TypeError as err:
                raise WorkflowConfigurationError(
                    f"cannot create {cls.__name__}() with no arguments: {err}") from None
        return obj


def _check_state(cls):
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise WorkflowConfigurationError(
            f"the state type must be a State subclass (fields with defaults), got {cls!r}")
    try:
        cls()
    except ValidationError as err:
        raise WorkflowConfigurationError(
            f"every field of the state {cls.__name__} needs a default (clear() resets to them): {err}"
        ) from None
    return cls


_COMPONENT = None


def component():
    global _COMPONENT
    if _COMPONENT is None:
        _COMPONENT = _Component()
    return _COMPONENT


def reset():
    """Forgets every registered workflow and step (for tests)."""
    global _COMPONENT
    _COMPONENT = None
    _wf._WORKFLOWS.clear()
    _wf._FREE_STEPS.clear()


def describe():
    """The component's declaration: a dict shaped like the WIT
    `component-info` (event schemas and state as canonical JSON text)."""
    comp = component()
    events = {}

    def add(cls):
        name = event_name(cls)
        known = events.get(name)
        if known is not None and known is not cls:
            raise WorkflowConfigurationError(
                f"two event classes are named {name}: {known.__module__}.{known.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}")
        events[name] = cls

    steps = []
    for name in comp.order:
        bound = comp.steps[name]
        info, sig = bound.info, bound.signature
        emitted = []
        for cls in sig.accepts:
            add(cls)
        for cls in sig.returns + info.extra_emits:
            add(cls)
            if event_name(cls) not in emitted:
                emitted.append(event_name(cls))
        for cls in info.waits:
            add(cls)
        steps.append({
            "name": name,
            "accepts": [event_name(cls) for cls in sig.accepts],
            "emits": emitted,
            "num_workers": info.num_workers,
            "retry": info.retry,
            "timeout_ms": info.timeout_ms,
        })
    state = None
    if comp.state_cls is not None:
        state = {"schema": canonical(json_schema(comp.state_cls, state=True)),
                 "defaults": canonical(comp.state_cls(), "the state defaults")}
    return {
        "steps": steps,
        "events": [{"name": name, "kind": event_kind(cls), "schema": canonical(json_schema(cls))}
                   for name, cls in events.items()],
        "state": state,
        "workflow": comp.workflow_name,
    }


def _drive(result, step_name):
    """Runs a step's coroutine to completion on an event loop of its own
    (see `_loop`); a plain `def` step's value is its result."""
    if not inspect.iscoroutine(result):
        return result
    return _loop.run(result, f"step `{step_name}`")


def _outputs(value, step_name):
    if value is None:
        return []
    if isinstance(value, Event):
        return [value]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(_outputs(item, step_name))
        return out
    raise TypeError(f"step `{step_name}` returned a {type(value).__name__}, not an event")


def _guest_error(exc):
    """The (kind, message) of an exception: its type's name and its text."""
    kind = exc.kind if isinstance(exc, StepError) else type(exc).__name__
    return kind, str(exc)


def handle(host, step_name, ev_name, ev_data):
    """Runs step `step_name` on the event (`ev_name`, `ev_data` JSON text);
    returns the emitted events as [(name, data)], or raises StepFailure."""
    comp = component()
    bound = comp.steps.get(step_name)
    if bound is None:
        raise StepFailure("failed", ("WorkflowStepDoesNotExistError",
                                     f"this component has no step `{step_name}`"))
    cls = bound.by_name.get(ev_name)
    if cls is None:
        raise StepFailure("invalid-event",
                          f"step `{step_name}` does not accept {ev_name} events (it accepts "
                          f"{', '.join(bound.by_name)})")
    try:
        ev = cls.model_validate_json(ev_data)
    except ValidationError as err:
        raise StepFailure("invalid-event", str(err)) from None
    ctx = Context(host, step_name, comp.state_cls)
    try:
        args = [ctx if kind == "ctx" else ev for kind in bound.signature.params]
        if bound.owner is not None:
            result = bound.info.fn(comp.instance(bound.owner), *args)
        else:
            result = bound.info.fn(*args)
        result = _drive(result, step_name)
        return [(event_name(type(out)), out._wire_json()) for out in _outputs(result, step_name)]
    except Exception as exc:
        context_error = getattr(exc, "wflow_context_error", None)
        traceback.print_exc(file=sys.stderr)
        if context_error is not None:
            raise StepFailure("context", context_error) from None
        raise StepFailure("failed", _guest_error(exc)) from None
