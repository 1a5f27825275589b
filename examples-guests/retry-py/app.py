"""A step that raises ValueError twice, then succeeds, under a retry policy
that retries only ValueError. Every retry runs on a fresh instance: the
attempt count lives in the state store, and the per-instance call counter
(a module global) stays 1."""

from wflow import ConstantDelayRetryPolicy, Context, StartEvent, StopEvent, Workflow, step

# Calls made on this instance (instance memory, not run state).
CALLS_ON_THIS_INSTANCE = 0


class Retry(Workflow):
    @step(retry_policy=ConstantDelayRetryPolicy(maximum_attempts=3, delay=0.02, retry_on=[ValueError]))
    async def flaky(self, ctx: Context, ev: StartEvent) -> StopEvent:
        global CALLS_ON_THIS_INSTANCE
        CALLS_ON_THIS_INSTANCE += 1
        fail_times = ev.get("fail_times", 2)
        attempt = await ctx.store.get("attempts", default=0) + 1
        await ctx.store.set("attempts", attempt)
        if attempt <= fail_times:
            if ev.get("error") == "TypeError":
                raise TypeError(f"attempt {attempt} failed")  # not in retry_on: no retry
            raise ValueError(f"attempt {attempt} failed")
        return StopEvent(result={"attempts": attempt, "calls_on_this_instance": CALLS_ON_THIS_INSTANCE})
