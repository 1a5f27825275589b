"""`Workflow` and `@step` (`workflows.workflow`, `workflows.decorators`).

A step's accepted event types come from its event parameter's annotation
and its emitted types from its return annotation, as in the seed. The
module's steps are every step of its `Workflow` subclasses plus every free
`@step` function."""

import inspect
import itertools
import types
import typing

from ._sdk_defaults import SDK_DEFAULTS
from .context import Context
from .errors import WorkflowValidationError
from .events import Event, is_event_class
from .retry_policy import RetryPolicy

__all__ = ["Workflow", "step"]

#: What a step declares unless it says otherwise, shared by the three SDKs
#: (`step` in wit/sdk-defaults.json): 4 workers, no retry policy, no timeout.
_STEP_DEFAULTS = SDK_DEFAULTS["step"]

_NONE_TYPE = type(None)
_SEQ = itertools.count()

# Registries filled as the user's module is imported.
_WORKFLOWS = []  # every Workflow subclass
_FREE_STEPS = []  # free @step functions without `workflow=`


class StepSignature:
    """What a step's signature says: parameters, accepted and returned
    event types, and the state type named by `Context[State]`."""

    def __init__(self, params, accepts, returns, state_cls, is_async):
        self.params = params  # "ctx" or "ev", in parameter order
        self.accepts = accepts
        self.returns = returns
        self.state_cls = state_cls
        self.is_async = is_async


def _is_free_function(qualname):
    parts = qualname.split(".")
    return len(parts) == 1 or parts[-2] == "<locals>"


def _is_context(ann):
    return ann is Context or typing.get_origin(ann) is Context


def _event_types(ann, where, returns):
    """The event classes an annotation names (a class, a union, Optional;
    for returns also None and list[...])."""
    if ann is None or ann is _NONE_TYPE:
        if returns:
            return []
        raise WorkflowValidationError(f"{where}: None is not an event type")
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        return _event_types(args[0], where, returns)
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in args:
            if arg is _NONE_TYPE and not returns:
                continue  # Optional[Ev] as an input: the event is never None
            out.extend(_event_types(arg, where, returns))
        return out
    if returns and origin in (list, tuple, typing.get_origin(typing.Sequence)):
        out = []
        for arg in args:
            if arg is not Ellipsis:
                out.extend(_event_types(arg, where, returns))
        return out
    if is_event_class(ann):
        if ann is Event:
            raise WorkflowValidationError(
                f"{where}: annotate with concrete event types (Event subclasses), not Event")
        return [ann]
    raise WorkflowValidationError(f"{where}: {ann!r} is not an event type (an Event subclass)")


def _dedupe(classes):
    seen, out = set(), []
    for cls in classes:
        if cls not in seen:
            seen.add(cls)
            out.append(cls)
    return out


class StepInfo:
    """A `@step`'s function and options; the signature is read lazily, so
    annotations may name classes defined further down the module."""

    def __init__(self, fn, name, num_workers, retry_policy, timeout, emits, waits):
        self.fn = fn
        self.name = name or fn.__name__
        self.num_workers = num_workers
        self.retry_policy = retry_policy
        self.timeout = timeout
        self.extra_emits = list(emits)
        self.waits = list(waits)
        self.seq = next(_SEQ)
        self._signatures = {}

    @property
    def timeout_ms(self):
        if self.timeout is None:
            return _STEP_DEFAULTS["timeout_ms"]
        return int(round(self.timeout * 1000))

    @property
    def retry(self):
        """The WIT `retry-policy` record of the step (a dict), or None."""
        if self.retry_policy is not None:
            return self.retry_policy.to_wit()
        default = _STEP_DEFAULTS["retry_policy"]
        return None if default is None else RetryPolicy.from_wit(default).to_wit()

    def signature(self, is_method):
        sig = self._signatures.get(is_method)
        if sig is None:
            try:
                sig = self._signatures[is_method] = self._read_signature(is_method)
            except WorkflowValidationError as err:
                # The user's file and line, for the build's report.
                code = getattr(self.fn, "__code__", None)
                if code is not None:
                    err.wflow_location = (code.co_filename, code.co_firstlineno)
                raise
        return sig

    def _read_signature(self, is_method):
        where = f"step `{self.name}`"
        try:
            hints = typing.get_type_hints(self.fn)
        except NameError as err:
            raise WorkflowValidationError(f"{where}: cannot resolve its annotations: {err}") from None
        params = list(inspect.signature(self.fn).parameters.values())
        if is_method:
            if not params:
                raise WorkflowValidationError(f"{where}: a method step takes `self` first")
            params = params[1:]
        kinds, accepts, state_cls = [], None, None
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise WorkflowValidationError(f"{where}: *args and **kwargs are not supported")
            ann = hints.get(param.name)
            if _is_context(ann) or (ann is None and param.name in ("ctx", "context")):
                args = typing.get_args(ann) if ann is not None else ()
                if args and isinstance(args[0], type):
                    state_cls = args[0]
                kinds.append("ctx")
            elif ann is not None and accepts is None:
                accepts = _dedupe(_event_types(ann, f"{where}, parameter `{param.name}`", False))
                kinds.append("ev")
            elif ann is None:
                raise WorkflowValidationError(
                    f"{where}: parameter `{param.name}` needs an annotation: its event type(s), or Context")
            else:
                raise WorkflowValidationError(
                    f"{where}: parameter `{param.name}`: a step takes one event parameter (and optionally "
                    "the context); resources are not supported")
        if accepts is None:
            raise WorkflowValidationError(
                f"{where}: it must take an event parameter annotated with the event type(s) it accepts")
        if "return" not in hints:
            raise WorkflowValidationError(
                f"{where}: Return types of workflows step functions must be annotated with their type "
                "(`-> None` when it emits nothing)")
        returns = _dedupe(_event_types(hints["return"], f"{where}, return annotation", True))
        return StepSignature(kinds, accepts, returns, state_cls, inspect.iscoroutinefunction(self.fn))


def _check_types(values, option):
    out = []
    for value in values:
        if not is_event_class(value) or value is Event:
            raise WorkflowValidationError(f"@step({option}=...) takes event classes, got {value!r}")
        out.append(value)
    return out


def step(*args, workflow=None, num_workers=_STEP_DEFAULTS["num_workers"], retry_policy=None, timeout=None,
         emits=(), waits=(), name=None):
    """Declares a workflow step, as the seed's `@step`:

        class JokeFlow(Workflow):
            @step
            async def write_joke(self, ctx: Context, ev: StartEvent) -> Joke: ...

    Options: `num_workers` (4 by default), `retry_policy` (none by
    default), `timeout` (seconds, one call; none by default): the defaults
    the three SDKs share (wit/sdk-defaults.json); `emits=[...]` (types sent with `ctx.send_event`),
    `waits=[...]` (types awaited with `ctx.wait_for_event`, so the host knows
    their schema), `name` (the function's name by default) and, for a free
    function, `workflow=MyFlow` (optional: a free step belongs to the module's
    workflow anyway)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise WorkflowValidationError(f"num_workers must be an integer greater than 0, got {num_workers!r}")
    if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
        raise WorkflowValidationError(
            f"retry_policy must be a ConstantDelayRetryPolicy, ExponentialBackoffRetryPolicy or "
            f"RetryPolicy (the host applies it; a policy with its own next() cannot run), got {retry_policy!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise WorkflowValidationError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if name is not None and not (isinstance(name, str) and name):
        raise WorkflowValidationError(f"name must be a non-empty string, got {name!r}")
    emits = _check_types(emits, "emits")
    waits = _check_types(waits, "waits")

    def decorate(fn):
        if not callable(fn):
            raise WorkflowValidationError(f"@step decorates a function, got {fn!r}")
        fn._wflow_step = StepInfo(fn, name, num_workers, retry_policy, timeout, emits, waits)
        if workflow is not None:
            workflow.add_step(fn)
        elif _is_free_function(fn.__qualname__):
            _FREE_STEPS.append(fn._wflow_step)
        return fn

    if args:
        if len(args) == 1 and callable(args[0]) and not isinstance(args[0], type):
            return decorate(args[0])
        raise WorkflowValidationError("use @step or @step(option=value, ...)")
    return decorate


class Workflow:
    """Base class of a workflow: its `@step` methods are the component's
    steps. Set `state = MyState` (a `State` subclass) for typed state::

        class JokeFlow(Workflow):
            @step
            async def write_joke(self, ctx: Context, ev: StartEvent) -> Joke: ...

    One instance is created (with no arguments) per component instance, so
    do not keep run data on `self`: every worker and every retry runs on a
    fresh instance; keep it in `ctx.store`."""

    state = None

    def __init__(self, timeout=45.0, disable_validation=False, verbose=False, **kwargs):
        # Accepted for the seed's sake; the manifest (workflow.toml) sets these.
        self.timeout = timeout
        self.verbose = verbose

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._wflow_added = []
        _WORKFLOWS.append(cls)

    @classmethod
    def add_step(cls, func):
        """Adds a free `@step` function to this workflow (the seed's
        `add_step`; `@step(workflow=Cls)` calls it)."""
        info = getattr(func, "_wflow_step", None)
        if info is None:
            raise WorkflowValidationError(f"{func!r} is not decorated with @step")
        if "_wflow_added" not in cls.__dict__:
            cls._wflow_added = []
        if any(existing.name == info.name for existing, _ in cls._step_entries()):
            raise WorkflowValidationError(
                f"A step {info.name} is already part of this workflow, please choose another name.")
        cls._wflow_added.append(info)

    @classmethod
    def _step_entries(cls):
        """[(StepInfo, is_method)] of this class, bases included, a subclass's
        step overriding a base's of the same name."""
        entries = {}
        for klass in reversed(cls.__mro__):
            for value in klass.__dict__.values():
                info = getattr(value, "_wflow_step", None)
                if isinstance(info, StepInfo):
                    entries[info.name] = (info, True)
            for info in klass.__dict__.get("_wflow_added", ()):
                entries[info.name] = (info, False)
        return sorted(entries.values(), key=lambda entry: entry[0].seq)
