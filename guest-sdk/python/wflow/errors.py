"""Errors, with the seed's names (`workflows.errors`)."""

__all__ = [
    "WorkflowValidationError",
    "WorkflowConfigurationError",
    "WorkflowRuntimeError",
    "WorkflowStepDoesNotExistError",
    "WorkflowTimeoutError",
    "StepError",
    "ValidationError",
]

from ._model import ValidationError


class WorkflowValidationError(Exception):
    """A step's signature or options are invalid."""


class WorkflowConfigurationError(Exception):
    """The module's workflow is inconsistent (two state types, a step name
    used twice, ...)."""


class WorkflowRuntimeError(Exception):
    """An event could not be routed (`send_event` to a step that does not
    exist or does not accept it, or after the run ended)."""


class WorkflowStepDoesNotExistError(Exception):
    """A step that does not exist was addressed."""


class WorkflowTimeoutError(Exception):
    """A run exceeded its timeout."""


class StepError(Exception):
    """Fails a step with an explicit kind: `raise StepError("msg",
    kind="TransientError")` is reported as `TransientError: msg` (any other
    exception is reported as `TypeName: message`)."""

    def __init__(self, message="", kind="StepError"):
        super().__init__(message)
        self.kind = kind


class HostError(Exception):
    """A context call failed in the host (internal: turned into the Python
    exception the seed raises by `_context_exception`)."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


# context-error case -> the exception class the seed raises for it.
_CONTEXT_EXCEPTIONS = {
    "invalid-path": ValueError,
    "missing-path": ValueError,
    "schema-violation": ValueError,
    "invalid-json": ValueError,
    "step-does-not-exist": WorkflowRuntimeError,
    "event-not-accepted": WorkflowRuntimeError,
    "timeout": TimeoutError,  # asyncio.TimeoutError is TimeoutError
    "already-editing": RuntimeError,
    "run-ended": WorkflowRuntimeError,
}


def context_exception(err):
    """The Python exception for a failed context call. It remembers the
    host's error: if the step lets it escape, the host sees exactly which
    call failed (`step-error.context`)."""
    exc = _CONTEXT_EXCEPTIONS.get(err.kind, RuntimeError)(err.message)
    exc.wflow_context_error = (err.kind, err.message)
    return exc
