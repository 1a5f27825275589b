"""Retry policies (`workflows.retry_policy`). The host applies them, each
retry on a fresh component instance, so a policy is a declaration (the
WIT `retry-policy` record), not code: a custom policy with its own `next()`
cannot run in wflow.

What a policy does not set is the default the three SDKs share
(`retry_policy` and `exponential_backoff` in wit/sdk-defaults.json): the
seed's ConstantDelayRetryPolicy(), 3 attempts 5 seconds apart."""

from ._sdk_defaults import SDK_DEFAULTS

__all__ = ["RetryPolicy", "ConstantDelayRetryPolicy", "ExponentialBackoffRetryPolicy"]

#: Every field of the WIT `retry-policy` record that a policy does not set.
_DEFAULT = SDK_DEFAULTS["retry_policy"]
#: `_DEFAULT` with what an exponential policy changes (`exponential_backoff`).
_EXPONENTIAL = {**_DEFAULT, **SDK_DEFAULTS["exponential_backoff"]}


def _seconds(ms):
    return None if ms is None else ms / 1000


def _ms(seconds, what):
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"{what} must be a number of seconds >= 0, got {seconds!r}")
    return int(round(seconds * 1000))


def _kinds(retry_on):
    out = []
    for item in retry_on or ():
        if isinstance(item, type) and issubclass(item, BaseException):
            out.append(item.__name__)
        elif isinstance(item, str) and item:
            out.append(item)
        else:
            raise ValueError(f"retry_on takes exception classes or their names, got {item!r}")
    return out


def _messages(retry_on_message):
    out = []
    for item in retry_on_message or ():
        if not isinstance(item, str) or not item:
            raise ValueError(f"retry_on_message takes strings, got {item!r}")
        out.append(item)
    return out


class RetryPolicy:
    """When and how a failed step is retried. Times are in seconds.

    - `maximum_attempts`: attempts in all, the first included (None: no limit);
    - `delay`: before the first retry; `backoff`: "constant" or "exponential"
      (the delay is multiplied by `multiplier`, 2 by default, after each retry);
    - `max_delay`: caps every delay; `max_elapsed`: give up once this long has
      passed since the first attempt; `jitter`: randomise each delay by up to
      this fraction;
    - `retry_on`: retry only errors of these exception classes (or class
      names), matched by the name of the error's own type;
      `retry_on_message`: or errors whose message contains one of these
      strings (both empty: every error).
    """

    def __init__(self, maximum_attempts=_DEFAULT["max_attempts"], delay=_seconds(_DEFAULT["delay_ms"]), *,
                 backoff=_DEFAULT["backoff"], multiplier=_DEFAULT["multiplier"],
                 max_delay=_seconds(_DEFAULT["max_delay_ms"]), max_elapsed=_seconds(_DEFAULT["max_elapsed_ms"]),
                 jitter=_DEFAULT["jitter"], retry_on=tuple(_DEFAULT["retry_on"]),
                 retry_on_message=tuple(_DEFAULT["retry_on_message"])):
        if backoff not in ("constant", "exponential"):
            raise ValueError(f"backoff must be 'constant' or 'exponential', got {backoff!r}")
        if maximum_attempts is not None and (
                isinstance(maximum_attempts, bool) or not isinstance(maximum_attempts, int)
                or maximum_attempts < 1):
            raise ValueError(f"maximum_attempts must be an integer >= 1, got {maximum_attempts!r}")
        if not isinstance(jitter, (int, float)) or not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {jitter!r}")
        self.maximum_attempts = maximum_attempts
        self.delay = delay
        self.backoff = backoff
        self.multiplier = multiplier
        self.max_delay = max_delay
        self.max_elapsed = max_elapsed
        self.jitter = float(jitter)
        self.retry_on = _kinds(retry_on)
        self.retry_on_message = _messages(retry_on_message)
        self._delay_ms = _ms(delay, "delay")
        self._max_delay_ms = _ms(max_delay, "max_delay")
        self._max_elapsed_ms = _ms(max_elapsed, "max_elapsed")

    @classmethod
    def from_wit(cls, record):
        """A policy from a (partial) WIT `retry-policy` record, a dict of
        its snake_case fields; fields left out take the shared defaults."""
        fields = {**_DEFAULT, **record}
        return cls(fields["max_attempts"], _seconds(fields["delay_ms"]), backoff=fields["backoff"],
                   multiplier=fields["multiplier"], max_delay=_seconds(fields["max_delay_ms"]),
                   max_elapsed=_seconds(fields["max_elapsed_ms"]), jitter=fields["jitter"],
                   retry_on=fields["retry_on"], retry_on_message=fields["retry_on_message"])

    def to_wit(self):
        """The policy as the WIT `retry-policy` record (a dict)."""
        return {
            "max_attempts": self.maximum_attempts,
            "max_elapsed_ms": self._max_elapsed_ms,
            "delay_ms": self._delay_ms,
            "backoff": self.backoff,
            "multiplier": None if self.multiplier is None else float(self.multiplier),
            "max_delay_ms": self._max_delay_ms,
            "jitter": self.jitter,
            "retry_on": list(self.retry_on),
            "retry_on_message": list(self.retry_on_message),
        }

    def __repr__(self):
        return f"{type(self).__name__}({self.to_wit()})"


class ConstantDelayRetryPolicy(RetryPolicy):
    """The seed's policy: at most `maximum_attempts` attempts in all (3 by
    default), `delay` seconds apart (5 by default).

        @step(retry_policy=ConstantDelayRetryPolicy(delay=5, maximum_attempts=10))
    """

    def __init__(self, maximum_attempts=_DEFAULT["max_attempts"], delay=_seconds(_DEFAULT["delay_ms"]), *,
                 max_elapsed=_seconds(_DEFAULT["max_elapsed_ms"]), jitter=_DEFAULT["jitter"],
                 retry_on=tuple(_DEFAULT["retry_on"]),
                 retry_on_message=tuple(_DEFAULT["retry_on_message"])):
        super().__init__(maximum_attempts, delay, backoff="constant", max_elapsed=max_elapsed,
                         jitter=jitter, retry_on=retry_on, retry_on_message=retry_on_message)


class ExponentialBackoffRetryPolicy(RetryPolicy):
    """`initial_delay` seconds before the first retry (1 by default),
    multiplied by `multiplier` (2) after each one, capped at `max_delay` (a
    wflow extension)."""

    def __init__(self, initial_delay=_seconds(_EXPONENTIAL["delay_ms"]), multiplier=_EXPONENTIAL["multiplier"],
                 max_delay=_seconds(_EXPONENTIAL["max_delay_ms"]), maximum_attempts=_EXPONENTIAL["max_attempts"],
                 *, max_elapsed=_seconds(_EXPONENTIAL["max_elapsed_ms"]), jitter=_EXPONENTIAL["jitter"],
                 retry_on=tuple(_EXPONENTIAL["retry_on"]),
                 retry_on_message=tuple(_EXPONENTIAL["retry_on_message"])):
        super().__init__(maximum_attempts, initial_delay, backoff=_EXPONENTIAL["backoff"],
                         multiplier=multiplier, max_delay=max_delay, max_elapsed=max_elapsed, jitter=jitter,
                         retry_on=retry_on, retry_on_message=retry_on_message)
