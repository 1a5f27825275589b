"""Retry policies (`workflows.retry_policy`). The host applies them, each
retry on a fresh component instance, so a policy is a declaration (the
WIT `retry-policy` record), not code: a custom policy with its own `next()`
cannot run in wflow."""

__all__ = ["RetryPolicy", "ConstantDelayRetryPolicy", "ExponentialBackoffRetryPolicy"]


def _ms(seconds, what):
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"{what} must be a number of seconds >= 0, got {seconds!r}")
    return int(round(seconds * 1000))


def _patterns(retry_on):
    out = []
    for item in retry_on or ():
        if isinstance(item, type) and issubclass(item, BaseException):
            out.append(item.__name__)
        elif isinstance(item, str) and item:
            out.append(item)
        else:
            raise ValueError(f"retry_on takes exception classes or strings, got {item!r}")
    return out


class RetryPolicy:
    """When and how a failed step is retried. Times are in seconds.

    - `maximum_attempts`: attempts in all, the first included (None: no limit);
    - `delay`: before the first retry; `backoff`: "constant" or "exponential"
      (the delay is multiplied by `multiplier`, 2 by default, after each retry);
    - `max_delay`: caps every delay; `max_elapsed`: give up once this long has
      passed since the first attempt; `jitter`: randomise each delay by up to
      this fraction;
    - `retry_on`: retry only errors whose `Kind: message` text contains one
      of these strings or exception class names (empty: every error).
    """

    def __init__(self, maximum_attempts=3, delay=5.0, *, backoff="constant", multiplier=None,
                 max_delay=None, max_elapsed=None, jitter=0.0, retry_on=()):
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
        self.retry_on = _patterns(retry_on)
        self._delay_ms = _ms(delay, "delay")
        self._max_delay_ms = _ms(max_delay, "max_delay")
        self._max_elapsed_ms = _ms(max_elapsed, "max_elapsed")

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
        }

    def __repr__(self):
        return f"{type(self).__name__}({self.to_wit()})"


class ConstantDelayRetryPolicy(RetryPolicy):
    """The seed's policy: at most `maximum_attempts` attempts in all (3 by
    default), `delay` seconds apart (5 by default).

        @step(retry_policy=ConstantDelayRetryPolicy(delay=5, maximum_attempts=10))
    """

    def __init__(self, maximum_attempts=3, delay=5.0, *, max_elapsed=None, jitter=0.0, retry_on=()):
        super().__init__(maximum_attempts, delay, backoff="constant", max_elapsed=max_elapsed,
                         jitter=jitter, retry_on=retry_on)


class ExponentialBackoffRetryPolicy(RetryPolicy):
    """`initial_delay` seconds before the first retry, multiplied by
    `multiplier` after each one, capped at `max_delay` (a wflow extension)."""

    def __init__(self, initial_delay=1.0, multiplier=2.0, max_delay=None, maximum_attempts=3, *,
                 max_elapsed=None, jitter=0.0, retry_on=()):
        super().__init__(maximum_attempts, initial_delay, backoff="exponential", multiplier=multiplier,
                         max_delay=max_delay, max_elapsed=max_elapsed, jitter=jitter, retry_on=retry_on)
