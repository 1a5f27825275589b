"""Typed records declared with annotations, as with pydantic's BaseModel:
fields, defaults, validation on construction and decoding, JSON Schema
(draft 2020-12) derived from the annotations, and dict-like access.

Supported field types: str, int, float, bool, None, Any, list[T],
tuple[T, ...], dict[str, T], Optional[T], unions (`A | B`), Literal[...],
Enum subclasses, nested `Model` subclasses (events and states are models)
and stdlib dataclasses.
"""

import copy
import dataclasses
import enum
import inspect
import json
import types
import typing
from typing import Any

__all__ = ["Field", "Model", "ValidationError", "MISSING"]


class _Missing:
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()

_NONE_TYPE = type(None)
_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class ValidationError(ValueError):
    """A value does not fit a field's type (the message names the field)."""


class FieldInfo:
    """What `Field(...)` returns: a default and a description for a field."""

    def __init__(self, default=MISSING, default_factory=None, description=None):
        if default is not MISSING and default_factory is not None:
            raise TypeError("Field() takes a default or a default_factory, not both")
        self.default = default
        self.default_factory = default_factory
        self.description = description

    def __repr__(self):
        return f"Field(default={self.default!r}, description={self.description!r})"


def Field(default=MISSING, *, default_factory=None, description=None):
    """Declares a field's default (or `default_factory`) and description, as
    pydantic's `Field`: `tags: list[str] = Field(default_factory=list)`."""
    return FieldInfo(default, default_factory, description)


class _FieldSpec:
    __slots__ = ("name", "type", "default", "default_factory", "description")

    def __init__(self, name, tp, default, default_factory, description):
        self.name = name
        self.type = tp
        self.default = default
        self.default_factory = default_factory
        self.description = description

    @property
    def required(self):
        return self.default is MISSING and self.default_factory is None

    def make_default(self):
        if self.default_factory is not None:
            return self.default_factory()
        return copy.deepcopy(self.default)


def _type_hints(obj):
    """`typing.get_type_hints`, with a clear error for unresolved names."""
    try:
        return typing.get_type_hints(obj)
    except NameError as err:
        raise TypeError(
            f"cannot resolve the annotations of {getattr(obj, '__qualname__', obj)}: {err}"
        ) from None


def _model_fields(cls):
    """The fields of a Model subclass, resolved once (lazily, so annotations
    may name classes defined later in the module)."""
    cached = cls.__dict__.get("_wflow_fields")
    if cached is not None:
        return cached
    fields = {}
    for name, tp in _type_hints(cls).items():
        if name.startswith("_") or typing.get_origin(tp) is typing.ClassVar or tp is typing.ClassVar:
            continue
        default, factory, description = MISSING, None, None
        for klass in cls.__mro__:
            if name in klass.__dict__:
                value = klass.__dict__[name]
                if isinstance(value, FieldInfo):
                    default, factory, description = value.default, value.default_factory, value.description
                elif not (inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod))):
                    default = value
                break
        fields[name] = _FieldSpec(name, tp, default, factory, description)
    cls._wflow_fields = fields
    return fields


# ---------------------------------------------------------------------------
# Validation and conversion


def _kind(value):
    """A short description of a JSON-ish value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, int):
        return f"an integer ({value!r})"
    if isinstance(value, float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({text!r})"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def type_name(tp):
    """A readable name of an annotation."""
    if tp is Any:
        return "any value"
    if tp is _NONE_TYPE or tp is None:
        return "null"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(type_name(a) for a in args)}]"
    if isinstance(tp, type):
        if issubclass(tp, Model):
            return tp._title()
        return tp.__name__
    return repr(tp)


def _fail(where, tp, value):
    raise ValidationError(f"{where}: expected {_expected(tp)}, got {_kind(value)}")


def _expected(tp):
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "an array", dict: "an object", _NONE_TYPE: "null"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin in (list, tuple, typing.get_origin(typing.Sequence)):
        return f"an array ({type_name(tp)})"
    if origin is dict:
        return f"an object ({type_name(tp)})"
    if isinstance(tp, type) and (issubclass(tp, Model) or dataclasses.is_dataclass(tp)):
        return f"an object ({type_name(tp)})"
    return type_name(tp)


def coerce(tp, value, where):
    """Checks that `value` (decoded JSON, or a Python value) fits annotation
    `tp` and converts it (dicts to nested models, ints to floats where a float
    is expected). Raises ValidationError naming `where`."""
    if tp is Any or tp is object:
        return value
    if tp is None or tp is _NONE_TYPE:
        if value is None:
            return None
        _fail(where, _NONE_TYPE, value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return coerce(args[0], value, where)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and _NONE_TYPE in args:
            return None
        for arg in args:
            if arg is _NONE_TYPE:
                continue
            try:
                return coerce(arg, value, where)
            except ValidationError:
                pass
        _fail(where, tp, value)
    if origin is typing.Literal:
        for arg in args:
            if value == arg and type(value) is type(arg):
                return value
        _fail(where, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        _fail(where, tp, value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        _fail(where, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        _fail(where, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        _fail(where, tp, value)
    if tp is list or tp is tuple or origin in (list, typing.get_origin(typing.Sequence)):
        if not isinstance(value, (list, tuple)):
            _fail(where, tp, value)
        item = args[0] if args else Any
        return [coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            _fail(where, tp, value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValidationError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is dict or origin in (dict, typing.get_origin(typing.Mapping)):
        if not isinstance(value, dict):
            _fail(where, tp, value)
        item = args[1] if len(args) == 2 else Any
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where}: object keys must be strings, got {key!r}")
            out[key] = coerce(item, v, f"{where}.{key}")
        return out
    if isinstance(tp, type):
        if isinstance(value, tp) and not issubclass(tp, (int, float, str)):
            return value
        if issubclass(tp, Model):
            if isinstance(value, dict):
                return tp._build(dict(value), where)
            _fail(where, tp, value)
        if dataclasses.is_dataclass(tp):
            if isinstance(value, dict):
                return _build_dataclass(tp, value, where)
            _fail(where, tp, value)
        if issubclass(tp, enum.Enum):
            try:
                return tp(value)
            except ValueError:
                raise ValidationError(
                    f"{where}: expected one of {[m.value for m in tp]}, got {_kind(value)}"
                ) from None
        if isinstance(value, tp):
            return value
    _fail(where, tp, value)


def _build_dataclass(cls, data, where):
    hints = _type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = coerce(hints.get(f.name, Any), data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValidationError(f"{where}: missing required field `{f.name}`")
    return cls(**kwargs)


def to_json_value(value, where="value"):
    """Converts a value to plain JSON data (models and dataclasses to dicts,
    enums to their values, tuples to lists); a TypeError names what does not
    convert."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError(f"{where}: {value!r} is not valid JSON")
        return value
    if isinstance(value, Model):
        return value._dump(where)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, where)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if isinstance(key, enum.Enum):
                key = key.value
            if not isinstance(key, str):
                raise TypeError(f"{where}: object keys must be strings, got {key!r}")
            out[key] = to_json_value(v, f"{where}.{key}")
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)}
    raise TypeError(f"{where}: a {type(value).__name__} is not JSON-serializable")


def dumps(value, where="value"):
    """Compact JSON text of `value` (see `to_json_value`)."""
    return json.dumps(to_json_value(value, where), separators=(",", ":"), ensure_ascii=False)


def canonical(value, where="value"):
    """Canonical JSON text of `value`: compact, object keys sorted, as all
    three SDKs publish schemas and state defaults (so one type declared in
    Rust, Python and JavaScript publishes the same text)."""
    return json.dumps(to_json_value(value, where), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


# ---------------------------------------------------------------------------
# JSON Schema


def _admits_none(tp):
    """Whether annotation `tp` is Optional (a union with None)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _admits_none(typing.get_args(tp)[0])
    return (origin is typing.Union or origin is types.UnionType) and _NONE_TYPE in typing.get_args(tp)


def _published_by_base(cls, name):
    """Whether field `name` of `cls` is declared by a class that publishes a
    fixed schema (a built-in event: StopEvent's `result`). Such a field is
    left out of a subclass's derived schema, which lists the fields the
    subclass declares, as the Rust and JavaScript SDKs derive a custom stop
    event's."""
    for klass in cls.__mro__:
        if name in inspect.get_annotations(klass):
            return klass is not cls and "_wflow_schema" in klass.__dict__
    return False


class _SchemaBuilder:
    """Derives JSON Schemas in the form the three SDKs share (the Rust SDK's
    schemars output): nested models and dataclasses go to `$defs` (entries
    without a title), an Optional field defaulting to None publishes no
    `default` (as Rust's `Option<T>`, JavaScript's `"type?"`)."""

    def __init__(self):
        self.defs = {}

    def of(self, tp):
        if tp is Any or tp is object:
            return {}
        if tp is None or tp is _NONE_TYPE:
            return {"type": "null"}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            return self.of(args[0])
        if origin is typing.Union or origin is types.UnionType:
            nullable = _NONE_TYPE in args
            rest = [a for a in args if a is not _NONE_TYPE]
            schemas = [self.of(a) for a in rest]
            if nullable and len(schemas) == 1 and set(schemas[0]) == {"type"} and isinstance(schemas[0]["type"], str):
                return {"type": [schemas[0]["type"], "null"]}
            if nullable:
                schemas.append({"type": "null"})
            return {"anyOf": schemas}
        if origin is typing.Literal:
            values = list(args)
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
        if tp in simple:
            return {"type": simple[tp]}
        if tp is list or tp is tuple:
            return {"type": "array"}
        if origin in (list, typing.get_origin(typing.Sequence)):
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            return {"type": "array", "prefixItems": [self.of(a) for a in args],
                    "minItems": len(args), "maxItems": len(args)}
        if tp is dict:
            return {"type": "object"}
        if origin in (dict, typing.get_origin(typing.Mapping)):
            if len(args) == 2:
                if args[0] is not str:
                    raise TypeError(f"{type_name(tp)}: JSON object keys are strings; use dict[str, ...]")
                return {"type": "object", "additionalProperties": self.of(args[1])}
            return {"type": "object"}
        if isinstance(tp, type):
            if issubclass(tp, enum.Enum):
                return {"enum": [to_json_value(m.value) for m in tp]}
            if issubclass(tp, Model) or dataclasses.is_dataclass(tp):
                return self.ref(tp)
        raise TypeError(f"no JSON Schema for the annotation {tp!r}")

    def ref(self, cls):
        title = cls._title() if issubclass(cls, Model) else cls.__name__
        if title not in self.defs:
            self.defs[title] = None  # placeholder against recursion
            self.defs[title] = self.object(cls, titled=False)
        return {"$ref": f"#/$defs/{title}"}

    def object(self, cls, titled=True, state=False):
        """The schema of a model or dataclass `cls`. `titled`: with its
        title (the root's; `$defs` entries have none). `state`: the schema
        of a workflow's state, whose defaults are published once, as the
        state's `defaults`: no field has a `default`, and every field is
        required but the Optional ones (as the Rust SDK's state struct)."""
        schema = {}
        if titled:
            schema["title"] = cls._title() if issubclass(cls, Model) else cls.__name__
        doc = cls.__dict__.get("__doc__")
        if doc and not (dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "(")):
            schema["description"] = inspect.cleandoc(doc)
        schema["type"] = "object"
        properties, required = {}, []
        if issubclass(cls, Model):
            specs = [(f.name, f.type, f.default, f.default_factory, f.description)
                     for f in _model_fields(cls).values() if not _published_by_base(cls, f.name)]
        else:
            hints = _type_hints(cls)
            specs = [(f.name, hints.get(f.name, Any),
                      MISSING if f.default is dataclasses.MISSING else f.default,
                      None if f.default_factory is dataclasses.MISSING else f.default_factory,
                      None)
                     for f in dataclasses.fields(cls)]
        for name, tp, default, factory, description in specs:
            prop = dict(self.of(tp))
            if description:
                prop["description"] = description
            if state:
                if not _admits_none(tp):
                    required.append(name)
            elif default is not MISSING:
                if not (default is None and _admits_none(tp)):
                    try:
                        prop["default"] = to_json_value(default)
                    except TypeError:
                        pass
            elif factory is None:
                required.append(name)
            properties[name] = prop
        if properties:
            schema["properties"] = properties
        if required:
            schema["required"] = required
        return schema


def json_schema(cls, state=False):
    """The JSON Schema (draft 2020-12) of a Model subclass, as a dict: the
    one the class publishes (`_wflow_schema`, the built-in events'), else
    derived from its annotations (`state`: as a workflow's state, see
    `_SchemaBuilder.object`)."""
    published = cls.__dict__.get("_wflow_schema")
    if published is not None:
        return copy.deepcopy(published)
    builder = _SchemaBuilder()
    schema = {"$schema": _SCHEMA_DIALECT}
    schema.update(builder.object(cls, state=state))
    if builder.defs:
        schema["$defs"] = builder.defs
    return schema


# ---------------------------------------------------------------------------
# The base class


class Model:
    """A typed, dict-like record: declare fields with annotations (and
    defaults), construct with keywords. Unknown keywords are kept as extra
    fields, reachable as attributes and items (as the seed's DictLikeModel)."""

    def __init__(self, **data):
        self._init(data, type(self)._title())

    @classmethod
    def _title(cls):
        return cls.__name__

    @classmethod
    def _build(cls, data, where):
        obj = cls.__new__(cls)
        Model._init(obj, data, where)
        return obj

    def _init(self, data, where):
        fields = _model_fields(type(self))
        missing = []
        for name, spec in fields.items():
            if name in data:
                value = coerce(spec.type, data.pop(name), f"{where}.{name}")
            elif spec.required:
                missing.append(name)
                continue
            else:
                value = spec.make_default()
            object.__setattr__(self, name, value)
        if missing:
            names = ", ".join(f"`{m}`" for m in missing)
            plural = "s" if len(missing) > 1 else ""
            raise ValidationError(f"{where}: missing required field{plural} {names}")
        object.__setattr__(self, "_extra", data)

    # -- pydantic-style API

    @classmethod
    def model_validate(cls, data):
        """Builds an instance from a dict (decoded JSON), validating it."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValidationError(f"{cls._title()}: expected a JSON object, got {_kind(data)}")
        return cls._build(dict(data), cls._title())

    @classmethod
    def model_validate_json(cls, text):
        """Builds an instance from JSON text, validating it."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ValidationError(f"{cls._title()}: not valid JSON: {err}") from None
        return cls.model_validate(data)

    @classmethod
    def model_json_schema(cls):
        """The JSON Schema (draft 2020-12) of the model, as a dict."""
        return json_schema(cls)

    @classmethod
    def model_fields(cls):
        """The declared fields: name -> annotation."""
        return {name: f.type for name, f in _model_fields(cls).items()}

    def _dump(self, where):
        out = {}
        for name in _model_fields(type(self)):
            out[name] = to_json_value(getattr(self, name), f"{where}.{name}")
        for name, value in self._extra.items():
            out[name] = to_json_value(value, f"{where}.{name}")
        return out

    def model_dump(self):
        """The model as plain JSON data (a dict), extra fields included."""
        return self._dump(type(self)._title())

    def model_dump_json(self):
        """The model as compact JSON text."""
        return json.dumps(self.model_dump(), separators=(",", ":"), ensure_ascii=False)

    def model_copy(self):
        """A deep copy."""
        return copy.deepcopy(self)

    # -- dict-like access

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        extra = self.__dict__.get("_extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name.startswith("_") or name in _model_fields(type(self)) or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            self._extra[name] = value

    def __delattr__(self, name):
        if name in self.__dict__.get("_extra", {}):
            del self._extra[name]
        else:
            object.__delattr__(self, name)

    def _has(self, key):
        return key in _model_fields(type(self)) or key in self._extra

    def __getitem__(self, key):
        if key in _model_fields(type(self)):
            return getattr(self, key)
        return self._extra[key]

    def __setitem__(self, key, value):
        if key in _model_fields(type(self)):
            object.__setattr__(self, key, value)
        else:
            self._extra[key] = value

    def __delitem__(self, key):
        del self._extra[key]

    def __contains__(self, key):
        return self._has(key)

    def get(self, key, default=None):
        """The field `key`, or `default` when there is none."""
        return self[key] if self._has(key) else default

    def keys(self):
        return list(_model_fields(type(self))) + list(self._extra)

    def values(self):
        return [self[k] for k in self.keys()]

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def __len__(self):
        return len(self.keys())

    def __bool__(self):
        return True

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None

    def __repr__(self):
        parts = ", ".join(f"{k}={self[k]!r}" for k in self.keys())
        return f"{type(self).__name__}({parts})"
