"""Typed records declared with annotations, as with pydantic's BaseModel:
fields (with `Field(...)`: defaults, aliases, constraints), validation on
construction and decoding as pydantic's lax mode converts (`"2"` to 2 for
an int), errors in pydantic's shape, JSON Schema (draft 2020-12) derived
from the annotations, and dict-like access.

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

from ._fields import MISSING, Field, FieldInfo, check_constraints, constraint_schema
from ._validation import Invalid, ValidationError, invalid

__all__ = ["ClosedModel", "Field", "Model", "ValidationError", "MISSING"]

_NONE_TYPE = type(None)
_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _FieldSpec:
    __slots__ = ("name", "type", "default", "default_factory", "description", "info")

    def __init__(self, name, tp, default, default_factory, description, info=None):
        self.name = name
        self.type = tp
        self.default = default
        self.default_factory = default_factory
        self.description = description
        self.info = info

    @property
    def key(self):
        """The field's name in JSON: its alias, if it has one."""
        return self.info.alias if self.info is not None and self.info.alias else self.name

    @property
    def required(self):
        return self.default is MISSING and self.default_factory is None

    def make_default(self):
        if self.default_factory is not None:
            return self.default_factory()
        return copy.deepcopy(self.default)


def _type_hints(obj, extras=False):
    """`typing.get_type_hints` (with `Annotated` kept if `extras`), with a
    clear error for unresolved names."""
    try:
        return typing.get_type_hints(obj, include_extras=extras)
    except NameError as err:
        raise TypeError(
            f"cannot resolve the annotations of {getattr(obj, '__qualname__', obj)}: {err}"
        ) from None


def _field_info(tp):
    """The `Field(...)` in an `Annotated[T, Field(...)]` annotation, if any."""
    if typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, FieldInfo):
                return meta
    return None


def _model_fields(cls):
    """The fields of a Model subclass, resolved once (lazily, so annotations
    may name classes defined later in the module)."""
    cached = cls.__dict__.get("_wflow_fields")
    if cached is not None:
        return cached
    fields = {}
    for name, tp in _type_hints(cls, extras=True).items():
        if name.startswith("_") or typing.get_origin(tp) is typing.ClassVar or tp is typing.ClassVar:
            continue
        default, factory, info = MISSING, None, _field_info(tp)
        if info is not None:
            default, factory = info.default, info.default_factory
        for klass in cls.__mro__:
            if name in klass.__dict__:
                value = klass.__dict__[name]
                if isinstance(value, FieldInfo):
                    info = value
                    default, factory = value.default, value.default_factory
                elif not (inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod))):
                    default = value
                break
        description = info.description if info is not None else None
        fields[name] = _FieldSpec(name, tp, default, factory, description, info)
    cls._wflow_fields = fields
    return fields


# ---------------------------------------------------------------------------
# Validation and conversion, as pydantic's lax mode


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


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _one_of(values):
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _to_int(value, loc):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise invalid(loc, "finite_number", "Input should be a finite number", value)
        if not value.is_integer():
            raise invalid(loc, "int_from_float",
                          "Input should be a valid integer, got a number with a fractional part", value)
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        # An integral decimal (`"2.0"`), as pydantic reads one; not `"1e3"`.
        whole, dot, fraction = text.partition(".")
        if dot and not fraction.strip("0"):
            try:
                return int(whole)
            except ValueError:
                pass
        raise invalid(loc, "int_parsing",
                      "Input should be a valid integer, unable to parse string as an integer", value)
    raise invalid(loc, "int_type", "Input should be a valid integer", value)


def _to_float(value, loc):
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise invalid(loc, "float_parsing",
                          "Input should be a valid number, unable to parse string as a number",
                          value) from None
    raise invalid(loc, "float_type", "Input should be a valid number", value)


def _to_bool(value, loc):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if isinstance(value, (int, float, str)):
        raise invalid(loc, "bool_parsing", "Input should be a valid boolean, unable to interpret input",
                      value)
    raise invalid(loc, "bool_type", "Input should be a valid boolean", value)


def _exact(tp, value):
    """Whether `value` is exactly of simple type `tp` (a union's first try,
    as pydantic's smart mode: `int | str` keeps `"5"` a string)."""
    if tp in (int, float, str, bool):
        return type(value) is tp
    return False


def coerce(tp, value, loc=(), info=None):
    """`value` (decoded JSON, or a Python value) as annotation `tp` wants it,
    converted as pydantic's lax mode converts (`"2"` to 2 for an int, `"yes"`
    to True, dicts to nested models) and checked against `info`'s
    constraints; raises `Invalid`, each problem at its `loc`."""
    value = _coerce(tp, value, tuple(loc))
    if info is not None:
        check_constraints(info, value, tuple(loc))
    return value


def _coerce(tp, value, loc):
    if tp is Any or tp is object:
        return value
    if tp is None or tp is _NONE_TYPE:
        if value is None:
            return None
        raise invalid(loc, "none_required", "Input should be None", value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return coerce(args[0], value, loc, _field_info(tp))
    if origin is typing.Union or origin is types.UnionType:
        return _coerce_union(args, value, loc)
    if origin is typing.Literal:
        for arg in args:
            if value == arg and type(value) is type(arg):
                return value
        raise invalid(loc, "literal_error", f"Input should be {_one_of(args)}", value,
                      expected=_one_of(args))
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, enum.Enum) and isinstance(value.value, str):
            return value.value
        raise invalid(loc, "string_type", "Input should be a valid string", value)
    if tp is bool:
        return _to_bool(value, loc)
    if tp is int:
        return _to_int(value, loc)
    if tp is float:
        return _to_float(value, loc)
    if tp is list or origin in (list, typing.get_origin(typing.Sequence)):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise invalid(loc, "list_type", "Input should be a valid list", value)
        item = args[0] if args else Any
        return _each(item, value, loc, list)
    if tp is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise invalid(loc, "tuple_type", "Input should be a valid tuple", value)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return _each(args[0] if args else Any, value, loc, tuple)
        if len(value) != len(args):
            raise invalid(loc, "too_long" if len(value) > len(args) else "too_short",
                          f"Tuple should have {len(args)} items, not {len(value)}", value)
        errors, out = [], []
        for index, (arg, item) in enumerate(zip(args, value)):
            try:
                out.append(coerce(arg, item, loc + (index,)))
            except Invalid as err:
                errors.extend(err.errors)
        if errors:
            raise Invalid(errors)
        return tuple(out)
    if tp is dict or origin in (dict, typing.get_origin(typing.Mapping)):
        if not isinstance(value, dict):
            raise invalid(loc, "dict_type", "Input should be a valid dictionary", value)
        item = args[1] if len(args) == 2 else Any
        errors, out = [], {}
        for key, v in value.items():
            if not isinstance(key, str):
                errors.append({"type": "string_type", "loc": loc + (key,),
                               "msg": "Keys should be strings", "input": key})
                continue
            try:
                out[key] = coerce(item, v, loc + (key,))
            except Invalid as err:
                errors.extend(err.errors)
        if errors:
            raise Invalid(errors)
        return out
    if isinstance(tp, type):
        if issubclass(tp, Model):
            if isinstance(value, tp):
                return value
            if isinstance(value, dict):
                return tp._build(dict(value), loc)
            raise invalid(loc, "model_type",
                          f"Input should be a valid dictionary or instance of {tp._title()}", value,
                          class_name=tp._title())
        if dataclasses.is_dataclass(tp):
            if isinstance(value, tp):
                return value
            if isinstance(value, dict):
                return _build_dataclass(tp, value, loc)
            raise invalid(loc, "dataclass_type",
                          f"Input should be a dictionary or an instance of {tp.__name__}", value,
                          class_name=tp.__name__)
        if issubclass(tp, enum.Enum):
            if isinstance(value, tp):
                return value
            try:
                return tp(value)
            except ValueError:
                expected = _one_of([m.value for m in tp])
                raise invalid(loc, "enum", f"Input should be {expected}", value,
                              expected=expected) from None
        if isinstance(value, tp):
            return value
        raise invalid(loc, "is_instance_of", f"Input should be an instance of {tp.__name__}", value,
                      class_name=tp.__name__)
    raise invalid(loc, "unsupported_type", f"no validation for the annotation {tp!r}", value)


def _each(item, values, loc, make):
    errors, out = [], []
    for index, value in enumerate(values):
        try:
            out.append(coerce(item, value, loc + (index,)))
        except Invalid as err:
            errors.extend(err.errors)
    if errors:
        raise Invalid(errors)
    return make(out)


def _coerce_union(args, value, loc):
    """A union, as pydantic's smart mode: None for an Optional, then a
    member the value is exactly of, then each member in turn, converting;
    when none fits, every member's problem (at the member's name)."""
    members = [arg for arg in args if arg is not _NONE_TYPE]
    if value is None and len(members) < len(args):
        return None
    if len(members) == 1:
        return coerce(members[0], value, loc)
    for member in members:
        if _exact(member, value):
            return value
    errors = []
    for member in members:
        try:
            return coerce(member, value, loc)
        except Invalid as err:
            errors.extend(dict(error, loc=loc + (type_name(member),) + error["loc"][len(loc):])
                          for error in err.errors)
    raise Invalid(errors)


def _build_dataclass(cls, data, loc):
    hints = _type_hints(cls)
    kwargs, errors = {}, []
    for f in dataclasses.fields(cls):
        if f.name in data:
            try:
                kwargs[f.name] = coerce(hints.get(f.name, Any), data[f.name], loc + (f.name,))
            except Invalid as err:
                errors.extend(err.errors)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append({"type": "missing", "loc": loc + (f.name,), "msg": "Field required",
                           "input": data})
    if errors:
        raise Invalid(errors)
    return cls(**kwargs)


def to_json_value(value, where="value", by_alias=True):
    """Converts a value to plain JSON data (models and dataclasses to dicts,
    their fields under their aliases unless `by_alias` is false, enums to
    their values, tuples to lists); a TypeError names what does not
    convert."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError(f"{where}: {value!r} is not valid JSON")
        return value
    if isinstance(value, Model):
        return value._dump(where, by_alias=by_alias)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, where, by_alias)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]", by_alias) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if isinstance(key, enum.Enum):
                key = key.value
            if not isinstance(key, str):
                raise TypeError(f"{where}: object keys must be strings, got {key!r}")
            out[key] = to_json_value(v, f"{where}.{key}", by_alias)
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name), f"{where}.{f.name}", by_alias)
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
            info = _field_info(tp)
            schema = dict(self.of(args[0]))
            return constraint_schema(info, schema) if info is not None else schema
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
            specs = [(f.key, f.type, f.default, f.default_factory, f.info)
                     for f in _model_fields(cls).values() if not _published_by_base(cls, f.name)]
        else:
            hints = _type_hints(cls)
            specs = [(f.name, hints.get(f.name, Any),
                      MISSING if f.default is dataclasses.MISSING else f.default,
                      None if f.default_factory is dataclasses.MISSING else f.default_factory,
                      None)
                     for f in dataclasses.fields(cls)]
        for name, tp, default, factory, info in specs:
            prop = dict(self.of(tp))
            if info is not None:
                if info.title:
                    prop["title"] = info.title
                if info.description:
                    prop["description"] = info.description
                if info.examples is not None:
                    prop["examples"] = to_json_value(info.examples)
                constraint_schema(info, prop)
                if isinstance(info.json_schema_extra, dict):
                    prop.update(to_json_value(info.json_schema_extra))
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

    @classmethod
    def _title(cls):
        return cls.__name__

    @classmethod
    def _build(cls, data, loc):
        obj = cls.__new__(cls)
        Model._init(obj, data, loc)
        return obj

    def _init(self, data, loc):
        """Sets the fields from `data` (consumed: what is left is kept as
        extra fields); raises `Invalid` with every problem, at `loc`."""
        fields = _model_fields(type(self))
        errors = []
        source = dict(data)
        for name, spec in fields.items():
            key = spec.key
            if key in data:
                try:
                    value = coerce(spec.type, data.pop(key), loc + (key,), spec.info)
                except Invalid as err:
                    errors.extend(err.errors)
                    continue
            elif spec.required:
                errors.append({"type": "missing", "loc": loc + (key,), "msg": "Field required",
                               "input": source})
                continue
            else:
                value = spec.make_default()
            object.__setattr__(self, name, value)
        if errors:
            raise Invalid(errors)
        # A field with an alias is read by its alias only, as pydantic reads
        # it: its Python name is no extra field either (it would shadow it).
        for name, spec in fields.items():
            if spec.key != name:
                data.pop(name, None)
        object.__setattr__(self, "_extra", data)

    def __init__(self, **data):
        try:
            self._init(data, ())
        except Invalid as err:
            raise ValidationError(type(self)._title(), err.errors) from None

    # -- pydantic-style API

    @classmethod
    def model_validate(cls, data):
        """Builds an instance from a dict (decoded JSON), validating it."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ValidationError(cls._title(), [{
                "type": "model_type", "loc": (),
                "msg": f"Input should be a valid dictionary or instance of {cls._title()}",
                "input": data, "ctx": {"class_name": cls._title()}}])
        try:
            return cls._build(dict(data), ())
        except Invalid as err:
            raise ValidationError(cls._title(), err.errors) from None

    @classmethod
    def model_validate_json(cls, text):
        """Builds an instance from JSON text, validating it."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ValidationError(cls._title(), [{
                "type": "json_invalid", "loc": (), "msg": f"Invalid JSON: {err}",
                "input": text, "ctx": {"error": str(err)}}]) from None
        return cls.model_validate(data)

    @classmethod
    def model_json_schema(cls):
        """The JSON Schema (draft 2020-12) of the model, as a dict."""
        return json_schema(cls)

    @classmethod
    def model_fields(cls):
        """The declared fields: name -> annotation."""
        return {name: f.type for name, f in _model_fields(cls).items()}

    def _dump(self, where, by_alias=True, exclude_none=False):
        out = {}
        for name, spec in _model_fields(type(self)).items():
            value = getattr(self, name)
            if exclude_none and value is None:
                continue
            out[spec.key if by_alias else name] = to_json_value(value, f"{where}.{name}", by_alias)
        for name, value in self._extra.items():
            if exclude_none and value is None:
                continue
            out[name] = to_json_value(value, f"{where}.{name}", by_alias)
        return out

    def model_dump(self, *, mode="python", by_alias=False, exclude_none=False):
        """The model as plain JSON data (a dict), extra fields included;
        fields under their names (`by_alias=True`: their aliases)."""
        return self._dump(type(self)._title(), by_alias=by_alias, exclude_none=exclude_none)

    def model_dump_json(self, *, by_alias=False, exclude_none=False):
        """The model as compact JSON text."""
        return json.dumps(self.model_dump(by_alias=by_alias, exclude_none=exclude_none),
                          separators=(",", ":"), ensure_ascii=False)

    def _wire_json(self):
        """The model as an event's payload: fields under their aliases, as
        the published schema names them."""
        return json.dumps(self._dump(type(self)._title()), separators=(",", ":"), ensure_ascii=False)

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


class ClosedModel(Model):
    """A model holding only its declared fields, as a pydantic model: setting
    another is an error (`"Counter" object has no field "extra"`). Typed
    states are closed; events stay dict-like."""

    def __setattr__(self, name, value):
        if not name.startswith("_") and name not in _model_fields(type(self)) \
                and not hasattr(type(self), name):
            raise ValueError(f'"{type(self).__name__}" object has no field "{name}"')
        super().__setattr__(name, value)

    def __setitem__(self, key, value):
        self.__setattr__(key, value)
