"""Unit tests of the Python guest SDK, in plain CPython (no bindings, no
component): schema derivation, step introspection, event encoding and
decoding, and `handle` against an in-memory fake of the host's context.

    cd guest-sdk/python && python3 -m unittest discover -s tests -v
"""

import dataclasses
import enum
import json
import os
import sys
import textwrap
import types
import unittest
from typing import Any, Literal, Optional, Union

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import wflow  # noqa: E402
from wflow import (  # noqa: E402
    ConstantDelayRetryPolicy,
    Context,
    Event,
    ExponentialBackoffRetryPolicy,
    Field,
    HumanResponseEvent,
    InputRequiredEvent,
    Model,
    StartEvent,
    State,
    StepError,
    StopEvent,
    ValidationError,
    Workflow,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowValidationError,
    step,
)
from wflow import _runtime  # noqa: E402
from wflow.errors import HostError  # noqa: E402


class FakeHost:
    """An in-memory stand-in for the host's `context` interface."""

    def __init__(self, state=None, defaults=None, answers=(), config=None, steps=("a", "b")):
        self.state = dict(state or {})
        self.defaults = dict(defaults or {})
        self.sent, self.streamed = [], []
        self.buffers = {}
        self.answers = list(answers)
        self.editing = False
        self._config = dict(config or {})
        self._steps = set(steps)

    def _walk(self, path, create=False):
        parts = path.split(".")
        if not path or any(not p for p in parts):
            raise HostError("invalid-path", f"invalid path '{path}'")
        node = self.state
        for part in parts[:-1]:
            if part not in node:
                if not create:
                    return None, None
                node[part] = {}
            node = node[part]
        return node, parts[-1]

    def _check_edit(self):
        if self.editing:
            raise HostError("already-editing", "the state is being edited by this step")

    def get(self, path):
        self._check_edit()
        node, key = self._walk(path)
        if node is None or key not in node:
            return None
        return json.dumps(node[key])

    def set(self, path, value):
        self._check_edit()
        node, key = self._walk(path, create=True)
        node[key] = json.loads(value)

    def get_state(self):
        return json.dumps(self.state)

    def set_state(self, state):
        self.state = json.loads(state)

    def edit_state(self):
        self._check_edit()
        self.editing = True
        host = self

        class Edit:
            def current(self):
                return json.dumps(host.state)

            def commit(self, state):
                host.editing = False
                value = json.loads(state)
                if not isinstance(value.get("count", 0), int):
                    raise HostError("schema-violation", "at /count: not an integer")
                host.state = value

            def drop(self):
                host.editing = False

        return Edit()

    def clear(self):
        self.state = dict(self.defaults)

    def send_event(self, name, data, step):
        if step is not None and step not in self._steps:
            raise HostError("step-does-not-exist", f"Step {step} does not exist")
        self.sent.append((name, json.loads(data), step))

    def write_event_to_stream(self, name, data):
        self.streamed.append((name, json.loads(data)))

    def collect_events(self, name, data, expected, buffer_id):
        buffer = self.buffers.setdefault(buffer_id or "default", [])
        buffer.append((name, data))
        out, rest = [], list(buffer)
        for want, count in expected:
            got = [ev for ev in rest if ev[0] == want][:count]
            if len(got) < count:
                return None
            for ev in got:
                rest.remove(ev)
            out.extend(got)
        self.buffers[buffer_id or "default"] = rest
        return out

    def wait_for_event(self, name, waiter, waiter_id, requirements, timeout_ms):
        self.waited = (name, waiter, waiter_id, requirements, timeout_ms)
        if waiter is not None:
            self.streamed.append((waiter[0], json.loads(waiter[1])))
        if not self.answers:
            raise HostError("timeout", f"Timed out waiting for {name}")
        return self.answers.pop(0)

    def running_steps(self):
        return ["a"]

    def config(self, key):
        return self._config.get(key)


class SdkTest(unittest.TestCase):
    def setUp(self):
        _runtime.reset()

    def tearDown(self):
        _runtime.reset()

    def describe(self):
        info = _runtime.describe()
        self.steps = {s["name"]: s for s in info["steps"]}
        self.events = {e["name"]: e for e in info["events"]}
        for event in self.events.values():
            event["schema"] = json.loads(event["schema"])
        return info

    def handle(self, host, step_name, ev):
        name = ev if isinstance(ev, str) else wflow.events.event_name(type(ev))
        data = "{}" if isinstance(ev, str) else ev.model_dump_json()
        return [(n, json.loads(d)) for n, d in _runtime.handle(host, step_name, name, data)]

    def failure(self, host, step_name, name, data):
        with self.assertRaises(_runtime.StepFailure) as caught:
            _runtime.handle(host, step_name, name, data)
        return caught.exception.kind, caught.exception.value


class ImportTest(unittest.TestCase):
    def test_importable_without_bindings(self):
        self.assertNotIn("wit_world", sys.modules)
        self.assertTrue(callable(wflow.step))


class SchemaTest(SdkTest):
    def test_primitives_containers_optional_union(self):
        class Color(enum.Enum):
            RED = "red"
            BLUE = "blue"

        class Ev(Event):
            """An event with every kind of field."""

            s: str
            i: int
            f: float
            b: bool
            anything: Any
            tags: list[str]
            scores: dict[str, float]
            maybe: Optional[int] = None
            either: Union[int, str] = 0
            pipe: int | None = None
            mode: Literal["a", "b"] = "a"
            color: Color = Color.RED
            pair: tuple[int, str] = (1, "x")
            notes: list[str] = Field(default_factory=list, description="free notes")

        schema = Ev.model_json_schema()
        self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
        self.assertEqual(schema["title"], "Ev")
        self.assertEqual(schema["description"], "An event with every kind of field.")
        self.assertEqual(schema["type"], "object")
        props = schema["properties"]
        self.assertEqual(props["s"], {"type": "string"})
        self.assertEqual(props["i"], {"type": "integer"})
        self.assertEqual(props["f"], {"type": "number"})
        self.assertEqual(props["b"], {"type": "boolean"})
        self.assertEqual(props["anything"], {})
        self.assertEqual(props["tags"], {"type": "array", "items": {"type": "string"}})
        self.assertEqual(props["scores"], {"type": "object", "additionalProperties": {"type": "number"}})
        # An Optional field defaulting to None publishes no default (as Rust's Option<T>).
        self.assertEqual(props["maybe"], {"type": ["integer", "null"]})
        self.assertEqual(props["either"], {"anyOf": [{"type": "integer"}, {"type": "string"}], "default": 0})
        self.assertEqual(props["pipe"], {"type": ["integer", "null"]})
        self.assertEqual(props["mode"], {"enum": ["a", "b"], "default": "a"})
        self.assertEqual(props["color"], {"enum": ["red", "blue"], "default": "red"})
        self.assertEqual(props["pair"]["prefixItems"], [{"type": "integer"}, {"type": "string"}])
        self.assertEqual(props["notes"], {"type": "array", "items": {"type": "string"},
                                          "description": "free notes"})
        self.assertEqual(schema["required"], ["s", "i", "f", "b", "anything", "tags", "scores"])

    def test_nested_models_and_dataclasses_go_to_defs(self):
        @dataclasses.dataclass
        class Point:
            x: float
            y: float = 0.0

        class Inner(Model):
            """Inner doc."""

            name: str

        class Outer(Event):
            inner: Inner
            points: list[Point]
            maybe_inner: Optional[Inner] = None

        schema = Outer.model_json_schema()
        self.assertEqual(schema["properties"]["inner"], {"$ref": "#/$defs/Inner"})
        self.assertEqual(schema["properties"]["points"], {"type": "array", "items": {"$ref": "#/$defs/Point"}})
        self.assertEqual(schema["properties"]["maybe_inner"],
                         {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]})
        # $defs entries have no title, as schemars writes them.
        self.assertEqual(schema["$defs"]["Inner"], {
            "description": "Inner doc.", "type": "object",
            "properties": {"name": {"type": "string"}}, "required": ["name"]})
        self.assertEqual(schema["$defs"]["Point"]["required"], ["x"])

    def test_builtin_events(self):
        # The built-ins publish the schemas of wit/sdk-defaults.json, as the other SDKs.
        from wflow._sdk_defaults import SDK_DEFAULTS

        listed = {e["name"]: e["schema"] for e in SDK_DEFAULTS["events"]}
        for cls in (StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent):
            self.assertEqual(cls.model_json_schema(), listed[cls.__name__])
        self.assertEqual(StartEvent.model_json_schema()["additionalProperties"], True)
        self.assertEqual(StopEvent.model_json_schema()["properties"]["result"]["default"], None)
        # A subclass derives its own.
        class Topic(StartEvent):
            topic: str

        self.assertEqual(Topic.model_json_schema()["required"], ["topic"])

    def test_sdk_defaults_copy_matches_the_source(self):
        from wflow._sdk_defaults import SDK_DEFAULTS

        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "wit",
                              "sdk-defaults.json")
        with open(source, encoding="utf-8") as f:
            self.assertEqual(SDK_DEFAULTS, json.load(f),
                             "run python3 scripts/sync-sdk-defaults.py")

    def test_unsupported_annotation_is_an_error(self):
        class Bad(Event):
            when: complex

        with self.assertRaisesRegex(TypeError, "no JSON Schema"):
            Bad.model_json_schema()


class EventTest(SdkTest):
    def test_kinds_and_names(self):
        from wflow.events import event_kind, event_name

        class MyStart(StartEvent):
            topic: str

        class MyStop(StopEvent):
            answer: int

        class Ask(InputRequiredEvent):
            pass

        class Answer(HumanResponseEvent):
            pass

        class Renamed(Event, name="Other"):
            pass

        class Plain(Event):
            pass

        kinds = {event_name(c): event_kind(c) for c in
                 (StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent, MyStart, MyStop, Ask,
                  Answer, Renamed, Plain)}
        self.assertEqual(kinds, {
            "StartEvent": "start", "StopEvent": "stop", "InputRequiredEvent": "input-required",
            "HumanResponseEvent": "human-response", "MyStart": "start", "MyStop": "stop",
            "Ask": "input-required", "Answer": "human-response", "Other": "plain", "Plain": "plain"})
        self.assertEqual(Renamed.model_json_schema()["title"], "Other")

    def test_dict_like_builtins(self):
        ev = StartEvent.model_validate_json('{"topic": "pirates", "n": 3}')
        self.assertEqual(ev.topic, "pirates")
        self.assertEqual(ev["n"], 3)
        self.assertEqual(ev.get("missing", "dflt"), "dflt")
        self.assertIn("topic", ev)
        with self.assertRaises(AttributeError):
            ev.missing
        ask = InputRequiredEvent(prefix="Name? ", user="ada")
        self.assertEqual(ask.model_dump(), {"prefix": "Name? ", "user": "ada"})
        self.assertEqual(HumanResponseEvent(response="Ada").response, "Ada")
        self.assertEqual(StopEvent(result={"a": 1}).model_dump(), {"result": {"a": 1}})

    def test_custom_stop_event_leaves_out_unset_result(self):
        class Receipt(StopEvent):
            total: float

        self.assertEqual(Receipt(total=2).model_dump(), {"total": 2.0})
        self.assertEqual(StopEvent().model_dump(), {"result": None})
        # Its schema lists the fields it declares, not StopEvent's `result`.
        self.assertEqual(list(Receipt.model_json_schema()["properties"]), ["total"])

    def test_roundtrip_with_nested_values_and_extras(self):
        class Item(Model):
            name: str
            qty: int = 1

        class Order(Event):
            items: list[Item]
            price: float
            tags: dict[str, str] = Field(default_factory=dict)

        order = Order.model_validate_json('{"items": [{"name": "tea"}], "price": 3, "extra": true}')
        self.assertIsInstance(order.items[0], Item)
        self.assertEqual(order.items[0].qty, 1)
        self.assertEqual(order.price, 3.0)
        self.assertIsInstance(order.price, float)
        self.assertTrue(order.extra)
        again = Order.model_validate_json(order.model_dump_json())
        self.assertEqual(again, order)
        self.assertEqual(order.model_dump(),
                         {"items": [{"name": "tea", "qty": 1}], "price": 3.0, "tags": {}, "extra": True})
        # mutable defaults are not shared
        a, b = Order(items=[], price=1), Order(items=[], price=1)
        a.tags["x"] = "y"
        self.assertEqual(b.tags, {})

    def test_decode_errors_name_the_field_as_pydantic_does(self):
        class Item(Model):
            name: str

        class Order(Event):
            items: list[Item]
            count: int
            note: Optional[str] = None

        # (type, loc, msg) of each error, as pydantic 2 reports them.
        cases = {
            '{"items": [], "count": "x"}': [
                ("int_parsing", ("count",),
                 "Input should be a valid integer, unable to parse string as an integer")],
            '{"items": [], "count": 2.5}': [
                ("int_from_float", ("count",),
                 "Input should be a valid integer, got a number with a fractional part")],
            '{"items": [{"name": 1}], "count": 1}': [
                ("string_type", ("items", 0, "name"), "Input should be a valid string")],
            '{"items": [{}], "count": 1}': [("missing", ("items", 0, "name"), "Field required")],
            '{"count": 1}': [("missing", ("items",), "Field required")],
            '{}': [("missing", ("items",), "Field required"), ("missing", ("count",), "Field required")],
            '{"items": {}, "count": 1}': [("list_type", ("items",), "Input should be a valid list")],
            '{"items": [], "count": 1, "note": 5}': [
                ("string_type", ("note",), "Input should be a valid string")],
            '[1]': [("model_type", (), "Input should be a valid dictionary or instance of Order")],
        }
        for text, expected in cases.items():
            with self.subTest(text=text):
                with self.assertRaises(ValidationError) as caught:
                    Order.model_validate_json(text)
                errors = caught.exception.errors()
                self.assertEqual([(e["type"], e["loc"], e["msg"]) for e in errors], expected)
        with self.assertRaises(ValidationError) as caught:
            Order.model_validate_json('{"count": "x"}')
        self.assertEqual(str(caught.exception), (
            "2 validation errors for Order\n"
            "items\n"
            "  Field required [type=missing, input_value={'count': 'x'}, input_type=dict]\n"
            "count\n"
            "  Input should be a valid integer, unable to parse string as an integer "
            "[type=int_parsing, input_value='x', input_type=str]"))
        with self.assertRaises(ValidationError) as caught:
            Order.model_validate_json("nope")
        self.assertEqual(caught.exception.errors()[0]["type"], "json_invalid")

    def test_lax_mode_converts_as_pydantic_does(self):
        class Color(enum.Enum):
            RED = "red"

        class Mid(Model):
            x: int = 0
            f: float = 0.0
            b: bool = False
            o: Optional[int] = None
            u: Union[int, str] = 0
            c: Color = Color.RED

        cases = [
            ({"x": "5"}, "x", 5), ({"x": " 3 "}, "x", 3), ({"x": "1_000"}, "x", 1000),
            ({"x": "2.0"}, "x", 2), ({"x": 4.0}, "x", 4), ({"x": True}, "x", 1),
            ({"f": "2.5"}, "f", 2.5), ({"f": 2}, "f", 2.0), ({"b": "yes"}, "b", True),
            ({"b": "Off"}, "b", False), ({"b": 1}, "b", True), ({"b": 0.0}, "b", False),
            ({"o": "5"}, "o", 5), ({"o": None}, "o", None), ({"u": "5"}, "u", "5"),
            ({"u": 5}, "u", 5), ({"c": "red"}, "c", Color.RED),
        ]
        for data, field, value in cases:
            with self.subTest(data=data):
                got = getattr(Mid(**data), field)
                self.assertEqual((got, type(got)), (value, type(value)))
        refused = [({"x": "1e3"}, "int_parsing"), ({"x": "2.5"}, "int_parsing"),
                   ({"b": "maybe"}, "bool_parsing"), ({"b": 2}, "bool_parsing"),
                   ({"f": "x"}, "float_parsing"), ({"x": [1]}, "int_type"), ({"c": "blue"}, "enum")]
        for data, kind in refused:
            with self.subTest(data=data):
                with self.assertRaises(ValidationError) as caught:
                    Mid(**data)
                self.assertEqual(caught.exception.errors()[0]["type"], kind)
        with self.assertRaises(ValidationError) as caught:
            Mid(u=[1])
        self.assertEqual([e["loc"] for e in caught.exception.errors()], [("u", "int"), ("u", "str")])

    def test_field_constraints_are_checked_and_published(self):
        class Order(Event):
            qty: int = Field(ge=0, description="how many")
            price: float = Field(default=1.0, gt=0, le=100, multiple_of=0.5)
            code: str = Field(default="ab", min_length=1, max_length=5, pattern=r"^[a-z]+$")
            tags: list[str] = Field(default_factory=list, max_length=2)
            ref: int = Field(default=0, alias="refId")

        self.assertEqual(Order(qty="2").qty, 2)
        cases = [
            ({"qty": -1}, "greater_than_equal", "Input should be greater than or equal to 0"),
            ({"qty": 1, "price": 0}, "greater_than", "Input should be greater than 0"),
            ({"qty": 1, "price": 200}, "less_than_equal", "Input should be less than or equal to 100"),
            ({"qty": 1, "price": 0.7}, "multiple_of", "Input should be a multiple of 0.5"),
            ({"qty": 1, "code": ""}, "string_too_short", "String should have at least 1 character"),
            ({"qty": 1, "code": "abcdef"}, "string_too_long", "String should have at most 5 characters"),
            ({"qty": 1, "code": "ABC"}, "string_pattern_mismatch", "String should match pattern '^[a-z]+$'"),
            ({"qty": 1, "tags": ["a", "b", "c"]}, "too_long",
             "List should have at most 2 items after validation, not 3"),
        ]
        for data, kind, message in cases:
            with self.subTest(data=data):
                with self.assertRaises(ValidationError) as caught:
                    Order.model_validate(data)
                error = caught.exception.errors()[0]
                self.assertEqual((error["type"], error["msg"]), (kind, message))
                self.assertIn(f"{message} [type={kind}", str(caught.exception))
        # The alias is the field's name in JSON; Python code uses the name.
        order = Order.model_validate({"qty": 1, "refId": "7"})
        self.assertEqual(order.ref, 7)
        # By its Python name it is not read, and shadows nothing.
        named = Order(qty=1, ref=5)
        self.assertEqual(named.ref, 0)
        self.assertEqual(named.model_dump()["ref"], 0)
        self.assertEqual(named.keys().count("ref"), 1)
        self.assertEqual(order.model_dump()["ref"], 7)
        self.assertEqual(order.model_dump(by_alias=True)["refId"], 7)
        self.assertEqual(json.loads(order._wire_json())["refId"], 7)
        props = Order.model_json_schema()["properties"]
        self.assertEqual(props["qty"], {"type": "integer", "minimum": 0, "description": "how many"})
        self.assertEqual(props["price"], {"type": "number", "default": 1.0, "exclusiveMinimum": 0,
                                          "maximum": 100, "multipleOf": 0.5})
        self.assertEqual(props["code"], {"type": "string", "default": "ab", "minLength": 1,
                                         "maxLength": 5, "pattern": "^[a-z]+$"})
        self.assertEqual(props["tags"], {"type": "array", "items": {"type": "string"}, "maxItems": 2})
        self.assertIn("refId", props)
        self.assertNotIn("ref", props)
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'gte'"):
            Field(gte=0)

    def test_a_typed_state_has_only_its_fields(self):
        class Counter(State):
            count: int = 0

        counter = Counter()
        counter.count = 2
        with self.assertRaisesRegex(ValueError, '"Counter" object has no field "extra"'):
            counter.extra = 1
        with self.assertRaisesRegex(ValueError, '"Counter" object has no field "extra"'):
            counter["extra"] = 1
        self.assertEqual(counter.model_dump(), {"count": 2})

    def test_annotated_constraints(self):
        from typing import Annotated

        class Scores(Model):
            values: list[Annotated[int, Field(ge=0, le=10)]] = Field(default_factory=list)

        self.assertEqual(Scores(values=["3", 4]).values, [3, 4])
        with self.assertRaises(ValidationError) as caught:
            Scores(values=[1, 11])
        self.assertEqual(caught.exception.errors()[0]["loc"], ("values", 1))
        self.assertEqual(Scores.model_json_schema()["properties"]["values"]["items"],
                         {"type": "integer", "minimum": 0, "maximum": 10})

    def test_construction_validates_too(self):
        class Joke(Event):
            text: str

        with self.assertRaisesRegex(ValidationError, r"1 validation error for Joke\ntext\n  Input should be a valid string"):
            Joke(text=42)
        with self.assertRaisesRegex(ValidationError, "text\n  Field required"):
            Joke()

    def test_encode_errors(self):
        with self.assertRaisesRegex(TypeError, r"StopEvent.result: a set is not JSON-serializable"):
            StopEvent(result={1, 2}).model_dump_json()
        with self.assertRaisesRegex(TypeError, "not valid JSON"):
            StopEvent(result=float("nan")).model_dump_json()


class StepIntrospectionTest(SdkTest):
    def test_accepts_and_emits_from_annotations(self):
        class A(Event):
            pass

        class B(Event):
            pass

        class Work(Event):
            value: int

        class Approval(Event):
            ok: bool

        class Flow(Workflow):
            @step
            async def start(self, ctx: Context, ev: StartEvent) -> A | B:
                ...

            @step(num_workers=2, timeout=1.5, emits=[Work], waits=[Approval],
                  retry_policy=ConstantDelayRetryPolicy(delay=0.1, maximum_attempts=5, retry_on=[ValueError]))
            def either(self, ev: Union[A, B]) -> Optional[StopEvent]:
                ...

            @step(name="renamed")
            async def many(self, ev: Work) -> list[A]:
                ...

            @step
            async def nothing(self, ctx: Context, ev: Approval) -> None:
                ...

        self.describe()
        self.assertEqual(list(self.steps), ["start", "either", "renamed", "nothing"])
        self.assertEqual(self.steps["start"], {
            "name": "start", "accepts": ["StartEvent"], "emits": ["A", "B"], "num_workers": 4,
            "retry": None, "timeout_ms": None})
        either = self.steps["either"]
        self.assertEqual(either["accepts"], ["A", "B"])
        self.assertEqual(either["emits"], ["StopEvent", "Work"])
        self.assertEqual(either["num_workers"], 2)
        self.assertEqual(either["timeout_ms"], 1500)
        self.assertEqual(either["retry"], {
            "max_attempts": 5, "max_elapsed_ms": None, "delay_ms": 100, "backoff": "constant",
            "multiplier": None, "max_delay_ms": None, "jitter": 0.0, "retry_on": ["ValueError"],
            "retry_on_message": []})
        self.assertEqual(self.steps["renamed"]["emits"], ["A"])
        self.assertEqual(self.steps["nothing"]["emits"], [])
        self.assertEqual(list(self.events),
                         ["StartEvent", "A", "B", "StopEvent", "Work", "Approval"])
        self.assertEqual(self.events["StartEvent"]["kind"], "start")
        self.assertEqual(self.events["Approval"]["schema"]["required"], ["ok"])

    def test_free_function_steps(self):
        class Joke(Event):
            text: str

        @step
        def write(ev: StartEvent) -> Joke:
            return Joke(text=ev.topic)

        @step(num_workers=1)
        async def stop(ctx: Context, ev: Joke) -> StopEvent:
            return StopEvent(result=ev.text)

        self.describe()
        self.assertEqual([(s["name"], s["accepts"], s["emits"]) for s in self.steps.values()],
                         [("write", ["StartEvent"], ["Joke"]), ("stop", ["Joke"], ["StopEvent"])])
        self.assertEqual(self.handle(FakeHost(), "write", StartEvent(topic="cats")), [("Joke", {"text": "cats"})])

    def test_free_function_with_workflow_option(self):
        class Flow(Workflow):
            pass

        @step(workflow=Flow)
        async def only(ev: StartEvent) -> StopEvent:
            return StopEvent(result=1)

        self.describe()
        self.assertEqual(list(self.steps), ["only"])

    def test_forward_references_resolve_lazily(self):
        source = textwrap.dedent('''
            from __future__ import annotations
            from wflow import Context, Event, StartEvent, StopEvent, Workflow, step

            class Flow(Workflow):
                @step
                async def first(self, ctx: Context, ev: StartEvent) -> Later:
                    return Later(items=[Item(n=1)])

                @step
                async def second(self, ev: Later) -> StopEvent:
                    return StopEvent(result=sum(i.n for i in ev.items))

            class Later(Event):
                items: list[Item]

            class Item(Event):
                n: int
        ''')
        module = types.ModuleType("forward_refs_app")
        sys.modules[module.__name__] = module
        try:
            exec(compile(source, "forward_refs_app.py", "exec"), module.__dict__)
            self.describe()
            self.assertEqual(self.steps["first"]["emits"], ["Later"])
            out = self.handle(FakeHost(), "first", StartEvent())
            self.assertEqual(out, [("Later", {"items": [{"n": 1}]})])
            self.assertEqual(self.handle(FakeHost(), "second", module.Later(items=[module.Item(n=2)])),
                             [("StopEvent", {"result": 2})])
        finally:
            del sys.modules[module.__name__]

    def test_subclass_workflow_inherits_and_overrides_steps(self):
        class Base(Workflow):
            @step
            async def a(self, ev: StartEvent) -> StopEvent:
                return StopEvent(result="base")

        class Child(Base):
            @step(num_workers=1)
            async def a(self, ev: StartEvent) -> StopEvent:
                return StopEvent(result="child")

        self.describe()
        self.assertEqual(self.steps["a"]["num_workers"], 1)
        self.assertEqual(self.handle(FakeHost(), "a", StartEvent()), [("StopEvent", {"result": "child"})])
        # The host calls the workflow by its class, the subclass's.
        self.assertEqual(_runtime.describe()["workflow"], "Child")

    def test_the_workflow_is_named_after_its_one_class(self):
        class First(Workflow):
            @step
            async def a(self, ev: StartEvent) -> StopEvent:
                return StopEvent(result=1)

        self.assertEqual(_runtime.describe()["workflow"], "First")

    def test_free_steps_or_two_classes_give_no_name(self):
        @step
        async def free(ev: StartEvent) -> StopEvent:
            return StopEvent(result=1)

        self.assertIsNone(_runtime.describe()["workflow"])
        _runtime.reset()

        class First(Workflow):
            @step
            async def a(self, ev: StartEvent) -> StopEvent:
                return StopEvent(result=1)

        class Second(Workflow):
            pass

        self.assertIsNone(_runtime.describe()["workflow"])

    def test_signature_errors(self):
        cases = []

        class NoReturn(Workflow):
            @step
            async def s(self, ev: StartEvent):
                ...

        cases.append((NoReturn, "Return types of workflows step functions must be annotated"))

        class NoEventParam(Workflow):
            @step
            async def s(self, ctx: Context) -> None:
                ...

        cases.append((NoEventParam, "must take an event parameter"))

        class Unannotated(Workflow):
            @step
            async def s(self, ev) -> None:
                ...

        cases.append((Unannotated, "parameter `ev` needs an annotation"))

        class NotAnEvent(Workflow):
            @step
            async def s(self, ev: int) -> None:
                ...

        cases.append((NotAnEvent, "is not an event type"))

        class BaseEvent(Workflow):
            @step
            async def s(self, ev: Event) -> None:
                ...

        cases.append((BaseEvent, "concrete event types"))

        for cls, message in cases:
            with self.subTest(cls=cls.__name__):
                _runtime.reset()
                wflow.workflow._WORKFLOWS.append(cls)
                with self.assertRaisesRegex(WorkflowValidationError, message):
                    _runtime.describe()

    def test_option_errors(self):
        with self.assertRaisesRegex(WorkflowValidationError, "num_workers"):
            step(num_workers=0)
        with self.assertRaisesRegex(WorkflowValidationError, "retry_policy"):
            step(retry_policy=object())
        with self.assertRaisesRegex(WorkflowValidationError, "emits"):
            step(emits=[int])
        with self.assertRaisesRegex(WorkflowValidationError, "timeout"):
            step(timeout=-1)

    def test_duplicate_step_names(self):
        @step
        def a(ev: StartEvent) -> None:
            ...

        @step(name="a")
        def b(ev: StartEvent) -> None:
            ...

        with self.assertRaisesRegex(WorkflowValidationError, "A step a is already part of this workflow"):
            _runtime.describe()

    def test_exponential_retry_policy(self):
        policy = ExponentialBackoffRetryPolicy(initial_delay=0.5, multiplier=3, max_delay=10,
                                               maximum_attempts=None, jitter=0.2, retry_on=["Transient"])
        self.assertEqual(policy.to_wit(), {
            "max_attempts": None, "max_elapsed_ms": None, "delay_ms": 500, "backoff": "exponential",
            "multiplier": 3.0, "max_delay_ms": 10000, "jitter": 0.2, "retry_on": ["Transient"],
            "retry_on_message": []})
        self.assertEqual(ConstantDelayRetryPolicy().to_wit()["delay_ms"], 5000)
        self.assertEqual(ConstantDelayRetryPolicy().to_wit()["max_attempts"], 3)

    def test_retry_defaults_are_the_shared_ones(self):
        from wflow._sdk_defaults import SDK_DEFAULTS

        default = SDK_DEFAULTS["retry_policy"]
        self.assertEqual(wflow.RetryPolicy().to_wit(), default)
        self.assertEqual(ConstantDelayRetryPolicy().to_wit(), default)
        self.assertEqual(ExponentialBackoffRetryPolicy().to_wit(),
                         {**default, **SDK_DEFAULTS["exponential_backoff"]})
        self.assertEqual(wflow.RetryPolicy.from_wit({"max_attempts": 7}).to_wit(),
                         {**default, "max_attempts": 7})


class StateTest(SdkTest):
    def test_state_spec_and_typed_access(self):
        class Counter(State):
            """The counter."""

            count: int = 0
            names: list[str] = Field(default_factory=list)

        class Tick(Event):
            pass

        class Flow(Workflow):
            state = Counter

            @step
            async def tick(self, ctx: Context[Counter], ev: Tick) -> StopEvent:
                async with ctx.store.edit_state() as state:
                    state.count += 1
                    state.names.append("x")
                state = await ctx.store.get_state()
                return StopEvent(result={"count": state.count, "type": type(state).__name__})

        info = self.describe()
        self.assertEqual(json.loads(info["state"]["defaults"]), {"count": 0, "names": []})
        schema = json.loads(info["state"]["schema"])
        self.assertEqual(schema["title"], "Counter")
        # The defaults are published once, as `defaults`; every field but an
        # Optional one is required (as the Rust SDK's state struct).
        self.assertEqual(schema["properties"]["count"], {"type": "integer"})
        self.assertEqual(schema["required"], ["count", "names"])
        self.assertEqual(info["state"]["schema"], json.dumps(schema, sort_keys=True, separators=(",", ":")))
        host = FakeHost(state={"count": 41, "names": [], "other": "kept"})
        self.assertEqual(self.handle(host, "tick", Tick()),
                         [("StopEvent", {"result": {"count": 42, "type": "Counter"}})])
        self.assertEqual(host.state, {"count": 42, "names": ["x"], "other": "kept"})

    def test_state_from_context_annotation(self):
        class Counter(State):
            count: int = 0

        @step
        async def s(ctx: Context[Counter], ev: StartEvent) -> None:
            ...

        self.assertIsNotNone(_runtime.describe()["state"])

    def test_state_needs_defaults(self):
        class Bad(State):
            count: int

        class Flow(Workflow):
            state = Bad

            @step
            async def s(self, ev: StartEvent) -> None:
                ...

        with self.assertRaisesRegex(WorkflowConfigurationError, "needs a default"):
            _runtime.describe()

    def test_one_state_type(self):
        class A(State):
            x: int = 0

        class B(State):
            y: int = 0

        class Flow(Workflow):
            state = A

            @step
            async def s(self, ctx: Context[B], ev: StartEvent) -> None:
                ...

        with self.assertRaisesRegex(WorkflowConfigurationError, "one state type"):
            _runtime.describe()


class HandleTest(SdkTest):
    def test_joke_flow(self):
        class Joke(Event):
            text: str

        class JokeFlow(Workflow):
            @step
            async def write_joke(self, ctx: Context, ev: StartEvent) -> Joke:
                await ctx.store.set("topic", ev.topic)
                return Joke(text=f"a joke about {ev.topic}")

            @step
            async def critique(self, ctx: Context, ev: Joke) -> StopEvent:
                topic = await ctx.store.get("topic")
                missing = await ctx.store.get("nope", default="dflt")
                return StopEvent(result=f"{ev.text} ({topic}, {missing})")

        host = FakeHost()
        out = self.handle(host, "write_joke", StartEvent(topic="pirates"))
        self.assertEqual(out, [("Joke", {"text": "a joke about pirates"})])
        self.assertEqual(host.state, {"topic": "pirates"})
        out = self.handle(host, "critique", Joke(text="ha"))
        self.assertEqual(out, [("StopEvent", {"result": "ha (pirates, dflt)"})])

    def test_failures(self):
        class Boom(Event):
            how: str

        @step(emits=[Boom])
        async def boom(ctx: Context, ev: Boom) -> None:
            if ev.how == "value":
                raise ValueError("bad value")
            if ev.how == "kind":
                raise StepError("try later", kind="TransientError")
            if ev.how == "missing":
                await ctx.store.get("nope")
            if ev.how == "target":
                ctx.send_event(Boom(how="x"), step="ghost")
            if ev.how == "caught":
                try:
                    ctx.send_event(Boom(how="x"), step="ghost")
                except WorkflowRuntimeError as err:
                    raise KeyError(str(err)) from err
            if ev.how == "return":
                return 42
            if ev.how == "path":
                await ctx.store.set("a..b", 1)

        host = FakeHost()
        cases = {
            "value": ("failed", ("ValueError", "bad value")),
            "kind": ("failed", ("TransientError", "try later")),
            "missing": ("failed", ("ValueError", "Path 'nope' not found in state")),
            "target": ("context", ("step-does-not-exist", "Step ghost does not exist")),
            "caught": ("failed", ("KeyError", "'Step ghost does not exist'")),
            "return": ("failed", ("TypeError", "step `boom` returned a int, not an event")),
            "path": ("context", ("invalid-path", "invalid path 'a..b'")),
        }
        stderr = sys.stderr
        sys.stderr = open(os.devnull, "w")
        try:
            for how, expected in cases.items():
                with self.subTest(how=how):
                    self.assertEqual(self.failure(host, "boom", "Boom", json.dumps({"how": how})), expected)
        finally:
            sys.stderr.close()
            sys.stderr = stderr

    def test_invalid_events_and_unknown_steps(self):
        class Work(Event):
            value: int

        @step
        def work(ev: Work) -> None:
            ...

        host = FakeHost()
        self.assertEqual(self.failure(host, "work", "Work", '{"value": "x"}'),
                         ("invalid-event", "1 validation error for Work\nvalue\n  Input should be a "
                          "valid integer, unable to parse string as an integer [type=int_parsing, "
                          "input_value='x', input_type=str]"))
        self.assertEqual(self.failure(host, "work", "Work", "{"),
                         ("invalid-event", "1 validation error for Work\n  Invalid JSON: Expecting "
                          "property name enclosed in double quotes: line 1 column 2 (char 1) "
                          "[type=json_invalid, input_value='{', input_type=str]"))
        self.assertEqual(self.failure(host, "work", "Other", "{}"),
                         ("invalid-event", "step `work` does not accept Other events (it accepts Work)"))
        self.assertEqual(self.failure(host, "ghost", "Work", "{}"),
                         ("failed", ("WorkflowStepDoesNotExistError", "this component has no step `ghost`")))

    def test_send_collect_and_stream(self):
        class Work(Event):
            value: int

        class Done(Event):
            value: int

        @step(emits=[Work])
        def fan_out(ctx: Context, ev: StartEvent) -> None:
            for i in range(3):
                ctx.send_event(Work(value=i))
            ctx.send_event(Work(value=9), step="a")
            ctx.write_event_to_stream(Done(value=-1))

        @step(num_workers=1)
        async def gather(ctx: Context, ev: Done) -> StopEvent | None:
            done = ctx.collect_events(ev, [Done] * 3)
            if done is None:
                return None
            return StopEvent(result=[d.value for d in done])

        host = FakeHost()
        self.assertEqual(self.handle(host, "fan_out", StartEvent()), [])
        self.assertEqual(host.sent, [("Work", {"value": 0}, None), ("Work", {"value": 1}, None),
                                     ("Work", {"value": 2}, None), ("Work", {"value": 9}, "a")])
        self.assertEqual(host.streamed, [("Done", {"value": -1})])
        self.assertEqual(self.handle(host, "gather", Done(value=1)), [])
        self.assertEqual(self.handle(host, "gather", Done(value=2)), [])
        self.assertEqual(self.handle(host, "gather", Done(value=3)), [("StopEvent", {"result": [1, 2, 3]})])

    def test_wait_for_event_and_edit_discard(self):
        class Approval(HumanResponseEvent):
            user: str

        @step(waits=[Approval])
        async def ask(ctx: Context, ev: StartEvent) -> StopEvent:
            try:
                async with ctx.store.edit_state() as state:
                    state.count = 99
                    raise KeyError("discard")
            except KeyError:
                pass
            approval = await ctx.wait_for_event(
                Approval, waiter_event=InputRequiredEvent(prefix="ok?"), waiter_id="w",
                requirements={"user": "ada"}, timeout=1.5)
            try:
                await ctx.wait_for_event(Approval, timeout=None)
            except TimeoutError as err:
                timed_out = str(err)
            steps = await ctx.running_steps()
            return StopEvent(result=[approval.user, timed_out, steps, ctx.config("k"), ctx.config("z", 0)])

        host = FakeHost(state={"count": 1}, answers=[("Approval", '{"user": "ada", "response": "yes"}')],
                        config={"k": "v"})
        out = self.handle(host, "ask", StartEvent())
        self.assertEqual(out, [("StopEvent", {"result": ["ada", "Timed out waiting for Approval", ["a"], "v", 0]})])
        self.assertEqual(host.state, {"count": 1})
        self.assertFalse(host.editing)
        self.assertEqual(host.streamed, [("InputRequiredEvent", {"prefix": "ok?"})])
        self.assertEqual(host.waited, ("Approval", None, None, None, None))

    def test_plain_def_steps_and_result(self):
        @step
        def sync(ctx: Context, ev: StartEvent) -> StopEvent:
            ctx.store.set("x", {"y": [1, 2]})
            with ctx.store.edit_state() as state:
                state["z"] = 3
            return StopEvent(result=ctx.store.get("x.y").result())

        host = FakeHost()
        self.assertEqual(self.handle(host, "sync", StartEvent()), [("StopEvent", {"result": [1, 2]})])
        self.assertEqual(host.state, {"x": {"y": [1, 2]}, "z": 3})

    def quietly(self, *args):
        stderr = sys.stderr
        sys.stderr = open(os.devnull, "w")
        try:
            return self.failure(*args)
        finally:
            sys.stderr.close()
            sys.stderr = stderr

    def test_steps_run_on_an_asyncio_loop(self):
        import asyncio

        order = []

        async def later(name, delay):
            await asyncio.sleep(delay)
            order.append(name)
            return name

        @step
        async def concurrent(ctx: Context, ev: StartEvent) -> StopEvent:
            # Both sleeps are pending at once: the shorter one, started
            # second, ends first.
            both = await asyncio.gather(later("slow", 0.05), later("fast", 0.01))
            task = asyncio.create_task(later("task", 0))
            async with asyncio.timeout(5):
                stored = await ctx.store.get("x")
            try:
                await asyncio.wait_for(asyncio.sleep(5), 0.01)
                timed_out = False
            except TimeoutError:
                timed_out = True
            await task
            return StopEvent(result={"both": both, "order": order, "stored": stored,
                                     "timed_out": timed_out})

        host = FakeHost(state={"x": 7})
        self.assertEqual(self.handle(host, "concurrent", StartEvent()), [("StopEvent", {"result": {
            "both": ["slow", "fast"], "order": ["fast", "slow", "task"], "stored": 7,
            "timed_out": True}})])

    def test_a_step_awaiting_what_nothing_completes_fails_clearly(self):
        import asyncio

        @step
        async def stuck(ev: StartEvent) -> None:
            await asyncio.Event().wait()

        kind, (error_kind, message) = self.quietly(FakeHost(), "stuck", "StartEvent", "{}")
        self.assertEqual((kind, error_kind), ("failed", "RuntimeError"))
        self.assertIn("step `stuck` awaits something that nothing can complete", message)

    def test_awaiting_a_foreign_awaitable_fails_clearly(self):
        class Foreign:
            def __await__(self):
                yield "a future"

        @step
        async def s(ev: StartEvent) -> None:
            await Foreign()

        kind, (error_kind, message) = self.quietly(FakeHost(), "s", "StartEvent", "{}")
        self.assertEqual((kind, error_kind), ("failed", "RuntimeError"))
        self.assertIn("a future", message)

    def test_tasks_a_step_leaves_running_are_cancelled(self):
        import asyncio

        cancelled = []

        async def forever():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        @step
        async def leaves(ev: StartEvent) -> StopEvent:
            asyncio.create_task(forever())
            await asyncio.sleep(0)
            return StopEvent(result="done")

        self.assertEqual(self.handle(FakeHost(), "leaves", StartEvent()),
                         [("StopEvent", {"result": "done"})])
        self.assertEqual(cancelled, [True])

if __name__ == "__main__":
    unittest.main()
