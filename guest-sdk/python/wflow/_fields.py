"""`Field(...)`, as pydantic's: a field's default, alias, description and
constraints (`ge`, `gt`, `le`, `lt`, `multiple_of`, `min_length`,
`max_length`, `pattern`), checked after the value's type and published in
the JSON Schema, so that the host checks them too (a Rust or JavaScript
step sending the event cannot get past them)."""

import re

from ._validation import invalid

__all__ = ["Field", "FieldInfo", "MISSING", "check_constraints", "constraint_schema"]


class _Missing:
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()

#: The constraints `Field` takes, in the order they are checked.
CONSTRAINTS = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


class FieldInfo:
    """What `Field(...)` returns."""

    def __init__(self, default=MISSING, *, default_factory=None, alias=None, title=None,
                 description=None, examples=None, json_schema_extra=None, **constraints):
        if default is not MISSING and default_factory is not None:
            raise TypeError("Field() takes a default or a default_factory, not both")
        if default is Ellipsis:
            default = MISSING
        if alias is not None and not isinstance(alias, str):
            raise TypeError(f"Field(alias=...) takes a string, got {alias!r}")
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.title = title
        self.description = description
        self.examples = examples
        self.json_schema_extra = json_schema_extra
        self.constraints = {name: value for name, value in constraints.items() if value is not None}
        if "pattern" in self.constraints:
            try:
                self.compiled = re.compile(self.constraints["pattern"])
            except re.error as err:
                raise TypeError(f"Field(pattern={self.constraints['pattern']!r}) is not a regular "
                                f"expression: {err}") from None

    def __repr__(self):
        parts = [f"default={self.default!r}"]
        for name in ("alias", "description"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)!r}")
        parts.extend(f"{name}={value!r}" for name, value in self.constraints.items())
        return f"Field({', '.join(parts)})"


def Field(default=MISSING, *, default_factory=None, alias=None, title=None, description=None,
          examples=None, json_schema_extra=None, gt=None, ge=None, lt=None, le=None,
          multiple_of=None, min_length=None, max_length=None, pattern=None):
    """Declares a field's default (or `default_factory`), `alias` (its name
    in JSON), `description` and constraints, as pydantic's `Field`::

        qty: int = Field(ge=0, description="how many")
        tags: list[str] = Field(default_factory=list, max_length=10)
    """
    return FieldInfo(default, default_factory=default_factory, alias=alias, title=title,
                     description=description, examples=examples,
                     json_schema_extra=json_schema_extra, gt=gt, ge=ge, lt=lt, le=le,
                     multiple_of=multiple_of, min_length=min_length, max_length=max_length,
                     pattern=pattern)


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _multiple(value, of):
    if isinstance(value, int) and isinstance(of, int):
        return value % of == 0
    quotient = value / of
    return abs(quotient - round(quotient)) <= 1e-9 * max(1.0, abs(quotient))


def check_constraints(info, value, loc):
    """Checks `value` (already of the field's type) against `info`'s
    constraints; raises `Invalid` with pydantic's error type and message."""
    constraints = info.constraints
    if not constraints or value is None:
        return value
    if _is_number(value):
        checks = (
            ("gt", lambda bound: value > bound, "greater_than", "greater than {}"),
            ("ge", lambda bound: value >= bound, "greater_than_equal", "greater than or equal to {}"),
            ("lt", lambda bound: value < bound, "less_than", "less than {}"),
            ("le", lambda bound: value <= bound, "less_than_equal", "less than or equal to {}"),
            ("multiple_of", lambda of: _multiple(value, of), "multiple_of", "a multiple of {}"),
        )
        for name, holds, kind, text in checks:
            if name in constraints and not holds(constraints[name]):
                raise invalid(loc, kind, "Input should be " + text.format(constraints[name]), value,
                              **{name: constraints[name]})
    if isinstance(value, str):
        if "min_length" in constraints and len(value) < constraints["min_length"]:
            bound = constraints["min_length"]
            raise invalid(loc, "string_too_short",
                          f"String should have at least {_plural(bound, 'character')}", value,
                          min_length=bound)
        if "max_length" in constraints and len(value) > constraints["max_length"]:
            bound = constraints["max_length"]
            raise invalid(loc, "string_too_long",
                          f"String should have at most {_plural(bound, 'character')}", value,
                          max_length=bound)
        if "pattern" in constraints and not info.compiled.search(value):
            raise invalid(loc, "string_pattern_mismatch",
                          f"String should match pattern '{constraints['pattern']}'", value,
                          pattern=constraints["pattern"])
    elif isinstance(value, (list, tuple, dict)):
        kind = "Dictionary" if isinstance(value, dict) else "List" if isinstance(value, list) else "Tuple"
        length = len(value)
        if "min_length" in constraints and length < constraints["min_length"]:
            bound = constraints["min_length"]
            raise invalid(loc, "too_short",
                          f"{kind} should have at least {_plural(bound, 'item')} after validation, "
                          f"not {length}", value, field_type=kind, min_length=bound,
                          actual_length=length)
        if "max_length" in constraints and length > constraints["max_length"]:
            bound = constraints["max_length"]
            raise invalid(loc, "too_long",
                          f"{kind} should have at most {_plural(bound, 'item')} after validation, "
                          f"not {length}", value, field_type=kind, max_length=bound,
                          actual_length=length)
    return value


def constraint_schema(info, schema):
    """Adds `info`'s constraints to `schema` (a field's), in JSON Schema's
    words: `minimum`, `exclusiveMinimum`, `maxLength`, `maxItems`, ... for
    the types the schema admits (constraints on a number do not touch a
    string)."""
    constraints = info.constraints
    if not constraints:
        return schema
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types} if types else set()
    numeric = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum",
               "le": "maximum", "multiple_of": "multipleOf"}
    for name, keyword in numeric.items():
        if name in constraints:
            schema[keyword] = constraints[name]
    for name, by_type in (("min_length", ("minLength", "minItems", "minProperties")),
                          ("max_length", ("maxLength", "maxItems", "maxProperties"))):
        if name not in constraints:
            continue
        string, array, obj = by_type
        if "string" in types or not types:
            schema[string] = constraints[name]
        if "array" in types:
            schema[array] = constraints[name]
        if "object" in types:
            schema[obj] = constraints[name]
    if "pattern" in constraints:
        schema["pattern"] = constraints["pattern"]
    return schema
