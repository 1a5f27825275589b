"""pydantic, as far as a wflow guest needs it: `from pydantic import
BaseModel, Field` in a step's module works unchanged.

The real pydantic's core is compiled native code, which cannot run in the
sandbox; this module maps its everyday API onto the SDK's models, which
follow pydantic 2: fields from annotations, `Field(...)` with defaults,
aliases and constraints, lax conversion (`"2"` to 2 for an int), errors in
pydantic's shape, `model_validate`, `model_dump`, `model_json_schema`, and
no field set that the model does not declare.
What is not here (validators, `computed_field`, generics) fails at import,
naming itself, rather than behave differently.
"""

from wflow._fields import Field, FieldInfo
from wflow._model import ClosedModel as BaseModel
from wflow._validation import ValidationError

__all__ = ["BaseModel", "ConfigDict", "Field", "FieldInfo", "ValidationError", "VERSION"]

#: The pydantic version whose behaviour this follows.
VERSION = "2.0 (wflow)"


def ConfigDict(**options):
    """A model's `model_config`: accepted and kept; the SDK's models behave
    as pydantic's defaults (extra fields are kept, as the reference's
    events keep them)."""
    return dict(options)


def __getattr__(name):
    raise ImportError(
        f"pydantic.{name} is not available in a wflow guest: the SDK ships the part of pydantic "
        f"that runs in the sandbox (BaseModel, Field, ValidationError, ConfigDict)"
    )
