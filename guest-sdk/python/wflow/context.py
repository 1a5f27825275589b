"""The run's context as a step sees it (`workflows.context`): the state
store, sending and streaming events, collecting them, waiting for one.

Every call goes to the host at once. The seed's async methods return an
awaitable that is already complete, so `await ctx.store.get("x")` reads as
in the seed; in a plain `def` step, call `.result()` on it instead."""

import json
from typing import Generic, TypeVar

from ._model import MISSING, ClosedModel, Model, ValidationError, dumps
from .errors import HostError, context_exception
from .events import Event, event_name, is_event_class

__all__ = ["Context", "StateStore", "State", "DictState"]

S = TypeVar("S")


class State(ClosedModel):
    """Base class of a workflow's typed state (the seed's pydantic state
    model). Every field needs a default: they are the state `clear()`
    resets to, and the state a run starts with::

        class Counter(State):
            count: int = 0

        class CounterFlow(Workflow):
            state = Counter

    Writing a field the state does not declare is an error, as on a
    pydantic model (`"Counter" object has no field "extra"`); the host
    refuses it too, whatever language writes it.
    """



class DictState(Model):
    """The untyped state: dict-like, with attribute access (`state.count`,
    `state["count"]`)."""


class Ready:
    """An awaitable that is already complete (what the context's async
    methods return). `await` it, or call `.result()`."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def __await__(self):
        return self._value
        yield  # noqa: unreachable; makes this a generator

    def result(self):
        return self._value

    def __repr__(self):
        return f"Ready({self._value!r})"


def _call(fn, *args):
    try:
        return fn(*args)
    except HostError as err:
        raise context_exception(err) from None


def _encode_event(ev, what):
    if not isinstance(ev, Event):
        raise TypeError(f"{what} takes an Event, got {type(ev).__name__}")
    return event_name(type(ev)), ev._wire_json()


class _StateEditor:
    """`async with ctx.store.edit_state() as state:` (or a plain `with`):
    holds the state lock, commits the state on exit, discards it when the
    block raises."""

    def __init__(self, store):
        self._store = store
        self._lock = None
        self._state = None

    def _begin(self):
        if self._lock is not None:
            raise RuntimeError("this edit_state() is already in use")
        self._lock = _call(self._store._host.edit_state)
        try:
            self._state = self._store._decode_state(self._lock.current())
        except BaseException:
            self._lock, lock = None, self._lock
            lock.drop()
            raise
        return self._state

    def _end(self, exc_type):
        lock, self._lock = self._lock, None
        if exc_type is None:
            _call(lock.commit, dumps(self._state, "the state"))
        else:
            lock.drop()
        return False

    def __enter__(self):
        return self._begin()

    def __exit__(self, exc_type, exc, tb):
        return self._end(exc_type)

    def __aenter__(self):
        return Ready(self._begin())

    def __aexit__(self, exc_type, exc, tb):
        return Ready(self._end(exc_type))


class StateStore:
    """The run's state: a JSON object shared by every step and worker, read
    and written by dot paths (`user.profile.name`, `items.0`) or whole."""

    def __init__(self, host, state_cls=None):
        self._host = host
        self._state_cls = state_cls

    def _decode_state(self, text):
        cls = self._state_cls or DictState
        try:
            return cls.model_validate(json.loads(text))
        except ValidationError as err:
            raise ValueError(f"the state does not fit {cls.__name__}: {err}") from None

    def get(self, path, default=MISSING):
        """The value at `path` (awaitable). Without `default`, a missing
        path raises ValueError."""
        text = _call(self._host.get, path)
        if text is None:
            if default is MISSING:
                raise ValueError(f"Path '{path}' not found in state")
            return Ready(default)
        return Ready(json.loads(text))

    def set(self, path, value):
        """Writes `value` at `path`, creating intermediate objects
        (awaitable)."""
        _call(self._host.set, path, dumps(value, path))
        return Ready(None)

    def get_state(self):
        """The whole state (awaitable): an instance of the workflow's state
        class, or a DictState."""
        return Ready(self._decode_state(self._host.get_state()))

    def set_state(self, state):
        """Replaces the whole state (awaitable); a state that breaks the
        state schema raises ValueError."""
        if isinstance(state, Model):
            pass
        elif isinstance(state, dict):
            if self._state_cls is not None:
                state = self._state_cls.model_validate(state)
        else:
            raise TypeError(f"set_state takes a state object or a dict, got {type(state).__name__}")
        _call(self._host.set_state, dumps(state, "the state"))
        return Ready(None)

    def edit_state(self):
        """`async with ctx.store.edit_state() as state:` edits the state under
        the state lock: no other worker reads or writes it meanwhile. The
        state is written back when the block ends, discarded if it raises."""
        return _StateEditor(self)

    def clear(self):
        """Resets the state to its defaults (awaitable)."""
        _call(self._host.clear)
        return Ready(None)


class Context(Generic[S]):
    """The run's context, handed to steps that take a parameter annotated
    `Context` (or `Context[MyState]`)."""

    def __init__(self, host, step_name, state_cls=None):
        self._host = host
        self._step_name = step_name
        self._store = StateStore(host, state_cls)

    @property
    def store(self):
        """The run's state store (see StateStore)."""
        return self._store

    @property
    def step_name(self):
        """The name of the step being run."""
        return self._step_name

    @property
    def is_running(self):
        return True

    def send_event(self, message, step=None):
        """Sends an event into the run: to every step accepting its type, or
        only to `step`. The sending step must declare the type
        (`@step(emits=[...])`). WorkflowRuntimeError if `step` does not exist
        or does not accept it."""
        name, data = _encode_event(message, "send_event")
        _call(self._host.send_event, name, data, step)

    def write_event_to_stream(self, ev):
        """Writes an event to the run's stream for the caller to see (not
        routed to any step). `None` is ignored."""
        if ev is None:
            return
        name, data = _encode_event(ev, "write_event_to_stream")
        self._host.write_event_to_stream(name, data)

    def collect_events(self, ev, expected, buffer_id=None):
        """Buffers `ev` until the events `expected` lists have arrived (list
        a type N times for N events: `[WorkDone] * n`), then returns them in
        the order of `expected`; None while some are missing."""
        runs, classes = [], {}
        for item in expected:
            if not is_event_class(item):
                raise TypeError(f"collect_events expects event classes, got {item!r}")
            name = event_name(item)
            classes[name] = item
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        name, data = _encode_event(ev, "collect_events")
        events = self._host.collect_events(name, data, [(n, c) for n, c in runs], buffer_id)
        if events is None:
            return None
        return [classes[n].model_validate_json(d) for n, d in events]

    def wait_for_event(self, event_type, waiter_event=None, waiter_id=None, requirements=None,
                       timeout=2000.0):
        """Waits for the next event of `event_type` whose fields equal
        `requirements` (awaitable). `waiter_event` (typically an
        InputRequiredEvent) is written to the stream once per `waiter_id`.
        `timeout` in seconds (None: no timeout); TimeoutError when it passes.
        Declare the awaited type on the step: `@step(waits=[event_type])`."""
        if not is_event_class(event_type):
            raise TypeError(f"wait_for_event expects an event class, got {event_type!r}")
        waiter = None if waiter_event is None else _encode_event(waiter_event, "waiter_event")
        reqs = dumps(requirements, "requirements") if requirements else None
        timeout_ms = None if timeout is None else max(0, int(round(timeout * 1000)))
        name, data = _call(self._host.wait_for_event, event_name(event_type), waiter, waiter_id,
                           reqs, timeout_ms)
        if name != event_name(event_type):
            raise TypeError(f"waited for a {event_name(event_type)}, got a {name}")
        return Ready(event_type.model_validate_json(data))

    def running_steps(self):
        """The names of the steps with at least one busy worker
        (awaitable)."""
        return Ready(list(self._host.running_steps()))

    def config(self, key, default=None):
        """The configuration value `key` granted to this step by the
        workflow's manifest, or `default`."""
        value = self._host.config(key)
        return default if value is None else value

