"""Validation errors in pydantic's shape: each problem has a `type`, a
`loc` (the path to the value: field names and list indices), a `msg`, the
`input` and, for constraints, a `ctx`; `str()` prints them as pydantic
does::

    1 validation error for Order
    qty
      Input should be greater than or equal to 0 [type=greater_than_equal, input_value=-1, input_type=int]
"""

__all__ = ["ValidationError", "Invalid", "invalid"]


class ValidationError(ValueError):
    """A value does not fit a model: `errors()` lists every problem found,
    as pydantic's `ValidationError.errors()` does."""

    def __init__(self, title, errors):
        self.title = title
        self._errors = [dict(error) for error in errors]
        super().__init__(_render(title, self._errors))

    def errors(self):
        """Each problem: `type`, `loc`, `msg`, `input` (and `ctx`)."""
        return [dict(error) for error in self._errors]

    def error_count(self):
        return len(self._errors)

    @classmethod
    def single(cls, title, message, value=None, type="value_error"):
        """A validation error of one problem at the model itself."""
        return cls(title, [{"type": type, "loc": (), "msg": message, "input": value}])


class Invalid(Exception):
    """Raised inside validation: the problems found so far, each with its
    full `loc`; a model's entry points turn it into a ValidationError."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


def invalid(loc, type, msg, value, **ctx):
    """One problem, raised."""
    error = {"type": type, "loc": tuple(loc), "msg": msg, "input": value}
    if ctx:
        error["ctx"] = ctx
    return Invalid([error])


def _short(value):
    text = repr(value)
    return text if len(text) <= 50 else text[:24] + "..." + text[-24:]


def _render(title, errors):
    count = len(errors)
    lines = [f"{count} validation error{'' if count == 1 else 's'} for {title}"]
    for error in errors:
        loc = ".".join(str(part) for part in error["loc"])
        if loc:
            lines.append(loc)
        value = error["input"]
        lines.append(f"  {error['msg']} [type={error['type']}, input_value={_short(value)}, "
                     f"input_type={type(value).__name__}]")
    return "\n".join(lines)
