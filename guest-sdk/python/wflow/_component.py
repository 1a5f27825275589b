"""The component's exports over the generated bindings (`wit_world`, made by
componentize-py at build time). The build's entry module imports the user's
module, then `WitWorld` from here::

    import app
    from wflow._component import WitWorld
"""

import sys

from componentize_py_types import Err
from wit_world import WitWorld as _Exports
from wit_world.imports import context as _host
from wit_world.imports import types as _t

from . import _build_error, _runtime
from .errors import HostError

_KIND_OF_ERROR = {
    _t.ContextError_InvalidPath: "invalid-path",
    _t.ContextError_MissingPath: "missing-path",
    _t.ContextError_SchemaViolation: "schema-violation",
    _t.ContextError_InvalidJson: "invalid-json",
    _t.ContextError_StepDoesNotExist: "step-does-not-exist",
    _t.ContextError_EventNotAccepted: "event-not-accepted",
    _t.ContextError_Timeout: "timeout",
    _t.ContextError_AlreadyEditing: "already-editing",
    _t.ContextError_RunEnded: "run-ended",
}
_ERROR_OF_KIND = {kind: cls for cls, kind in _KIND_OF_ERROR.items()}

_EVENT_KINDS = {
    "plain": _t.EventKind.PLAIN,
    "start": _t.EventKind.START,
    "stop": _t.EventKind.STOP,
    "input-required": _t.EventKind.INPUT_REQUIRED,
    "human-response": _t.EventKind.HUMAN_RESPONSE,
}


def _call(fn, *args):
    try:
        return fn(*args)
    except Err as err:
        value = err.value
        raise HostError(_KIND_OF_ERROR.get(type(value), "run-ended"), value.value) from None


class _Edit:
    def __init__(self, resource):
        self._resource = resource

    def current(self):
        return self._resource.current()

    def commit(self, state):
        _call(_host.StateEdit.commit, self._resource, state)

    def drop(self):
        self._resource.__exit__(None, None, None)


class _WitHost:
    """The host's `context` interface in the shape the SDK's Context uses."""

    def get(self, path):
        return _call(_host.get, path)

    def set(self, path, value):
        _call(_host.set, path, value)

    def get_state(self):
        return _host.get_state()

    def set_state(self, state):
        _call(_host.set_state, state)

    def edit_state(self):
        return _Edit(_call(_host.edit_state))

    def clear(self):
        _call(_host.clear)

    def send_event(self, name, data, step):
        _call(_host.send_event, _t.Event(name=name, data=data), step)

    def write_event_to_stream(self, name, data):
        _host.write_event_to_stream(_t.Event(name=name, data=data))

    def collect_events(self, name, data, expected, buffer_id):
        events = _host.collect_events(
            _t.Event(name=name, data=data),
            [_t.ExpectedEvents(name=n, count=c) for n, c in expected],
            buffer_id,
        )
        return None if events is None else [(ev.name, ev.data) for ev in events]

    def wait_for_event(self, name, waiter, waiter_id, requirements, timeout_ms):
        waiter_ev = None if waiter is None else _t.Event(name=waiter[0], data=waiter[1])
        ev = _call(_host.wait_for_event, name, waiter_ev, waiter_id, requirements, timeout_ms)
        return ev.name, ev.data

    def running_steps(self):
        return _host.running_steps()

    def config(self, key):
        return _host.config(key)


_HOST = _WitHost()


def _retry(policy):
    if policy is None:
        return None
    return _t.RetryPolicy(
        max_attempts=policy["max_attempts"],
        max_elapsed_ms=policy["max_elapsed_ms"],
        delay_ms=policy["delay_ms"],
        backoff=_t.Backoff.EXPONENTIAL if policy["backoff"] == "exponential" else _t.Backoff.CONSTANT,
        multiplier=policy["multiplier"],
        max_delay_ms=policy["max_delay_ms"],
        jitter=policy["jitter"],
        retry_on=policy["retry_on"],
        retry_on_message=policy["retry_on_message"],
    )


def _component_info():
    try:
        info = _runtime.describe()
    except Exception as exc:
        print(f"wflow: cannot describe the workflow: {type(exc).__name__}: {exc}", file=sys.stderr)
        _build_error.report(exc)
        raise
    state = info["state"]
    return _t.ComponentInfo(
        steps=[
            _t.StepSpec(
                name=s["name"],
                accepts=s["accepts"],
                emits=s["emits"],
                num_workers=s["num_workers"],
                retry=_retry(s["retry"]),
                timeout_ms=s["timeout_ms"],
            )
            for s in info["steps"]
        ],
        events=[
            _t.EventType(name=e["name"], kind=_EVENT_KINDS[e["kind"]], schema=e["schema"])
            for e in info["events"]
        ],
        state=None if state is None else _t.StateSpec(schema=state["schema"], defaults=state["defaults"]),
        workflow=info["workflow"],
    )


# Computed while componentize-py pre-initializes the component (the build
# imports the entry module): a step with a bad signature fails the build, and
# every instance starts with the steps resolved and the schemas derived.
_INFO = _component_info()


class WitWorld(_Exports):
    def describe(self):
        return _INFO

    def handle(self, step, ev):
        try:
            out = _runtime.handle(_HOST, step, ev.name, ev.data)
        except _runtime.StepFailure as failure:
            if failure.kind == "invalid-event":
                raise Err(_t.StepError_InvalidEvent(failure.value))
            if failure.kind == "context":
                kind, message = failure.value
                raise Err(_t.StepError_Context(_ERROR_OF_KIND[kind](message)))
            kind, message = failure.value
            raise Err(_t.StepError_Failed(_t.GuestError(kind=kind, message=message)))
        return [_t.Event(name=name, data=data) for name, data in out]
