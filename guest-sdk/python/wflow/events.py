"""Events: the `Event` base class and the built-in event types, with the
seed's shapes (`workflows.events`). The built-in types' kinds and the
schemas they publish come from `wit/sdk-defaults.json` (through its
generated copy `_sdk_defaults.py`), shared with the Rust and JavaScript
SDKs."""

from typing import Any

from ._model import Model
from ._sdk_defaults import SDK_DEFAULTS

__all__ = [
    "Event",
    "StartEvent",
    "StopEvent",
    "InputRequiredEvent",
    "HumanResponseEvent",
    "event_name",
    "event_kind",
]


class Event(Model):
    """Base class of all workflow events.

    Declare typed fields with annotations; construct with keywords::

        class Joke(Event):
            text: str
            rating: int = 0

    Unknown keywords are kept as extra fields (`ev.extra`, `ev["extra"]`,
    `ev.get("extra", default)`). The type's name on the wire is the class
    name; `class Joke(Event, name="Joke2")` changes it. Subclassing
    `StartEvent`, `StopEvent`, `InputRequiredEvent` or `HumanResponseEvent`
    declares a custom start, stop, input-request or human-response type.
    """

    _wflow_name = "Event"

    def __init_subclass__(cls, name=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None and not (isinstance(name, str) and name):
            raise TypeError(f"{cls.__qualname__}: the event name must be a non-empty string")
        cls._wflow_name = name or cls.__name__

    @classmethod
    def _title(cls):
        return cls._wflow_name


class StartEvent(Event):
    """The event a run starts with: a dict of whatever the caller passed
    (`wflow run --input '{"topic": "pirates"}'` gives `ev.topic`,
    `ev["topic"]`, `ev.get("topic", default)`). Subclass it to declare typed
    start fields."""


class StopEvent(Event):
    """The event that ends a run; `result` is the run's result. With a
    custom subclass, the result is the whole event (whose `result` field is
    left out unless set, as in the seed)."""

    result: Any = None

    def _dump(self, where, **options):
        out = super()._dump(where, **options)
        if type(self) is not StopEvent and out.get("result", 0) is None:
            del out["result"]
        return out


class InputRequiredEvent(Event):
    """Asks a human for input: streamed to the caller, who answers with a
    `HumanResponseEvent`. Dict-like; `prefix` is the prompt by convention:
    `InputRequiredEvent(prefix="What's your name? ")`."""


class HumanResponseEvent(Event):
    """A human's answer to an `InputRequiredEvent`. Dict-like; `response`
    is the answer by convention (`ev.response`)."""


_BUILTINS = (StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent)


def _bind_builtins():
    """Gives each built-in class the kind and the published schema
    (`_wflow_schema`, see `_model.json_schema`) that wit/sdk-defaults.json
    lists for it."""
    listed = {entry["name"]: entry for entry in SDK_DEFAULTS["events"]}
    defined = [cls.__name__ for cls in _BUILTINS]
    if sorted(listed) != sorted(defined):
        raise ImportError(
            f"wit/sdk-defaults.json lists the built-in events {sorted(listed)}, "
            f"the Python SDK defines {sorted(defined)}")
    for cls in _BUILTINS:
        cls._wflow_kind = listed[cls.__name__]["kind"]
        cls._wflow_schema = listed[cls.__name__]["schema"]


_bind_builtins()


def event_name(cls):
    """The wire name of an event class."""
    return cls._wflow_name


def event_kind(cls):
    """The role of an event class, as the WIT `event-kind` names it:
    "plain", "start", "stop", "input-required" or "human-response"."""
    for base in _BUILTINS:
        if issubclass(cls, base):
            return base._wflow_kind
    return "plain"


def is_event_class(obj):
    return isinstance(obj, type) and issubclass(obj, Event)
