"""Benchmark workloads on llama-index-workflows (the reference), the same
shapes as wflow's Rust benchmark workloads, so the two can be set side by side.

Usage:

    python3 -m venv .venv && .venv/bin/pip install llama-index-workflows==2.26.1
    .venv/bin/python benches/python/workloads.py WORKLOAD SIZE

It prints exactly one line of JSON on stdout, for example

    {"workload": "chain", "size": 1000, "seconds": 1.234, "ops": 1000,
     "result": {"runs": 1000, "sum": 10000}}

(on one line). `seconds` is the wall-clock time of the measured part only
(after imports and after a small warm-up run), `ops` is the number of units
the throughput is computed from, and `result` is the canonical result object
that must equal the Rust side's. Anything else goes to stderr. If the
workflow's result is wrong, the script exits non-zero with a message on stderr.

Workloads (SIZE = N):

chain       Ten steps in a line: s1 takes the StartEvent (n=0) and emits
            Hop1(n+1), s2..s9 turn HopK into HopK+1 (n+1), s10 stops with n+1,
            so each run gives 10. One warm-up run, then N runs one after
            another on one Workflow instance.
            ops = N; result = {"runs": N, "sum": 10*N}.

fanout      fan_out (StartEvent, n=N) stores n in ctx.store and sends
            Work(value=v) for v in 0..N; `work` (8 workers) turns each into
            WorkDone(value=v); `gather` (1 worker) collects all N with
            ctx.collect_events and stops with their sum and count. One run.
            ops = N; result = {"count": N, "sum": N*(N-1)/2}.

concurrent  Three steps: StartEvent(n=i) -> Mid1(n=i+1) -> Mid2(n*2) ->
            StopEvent(n+3). N runs started at once (asyncio.gather) on one
            Workflow instance, timed until all finish.
            ops = N; result = {"runs": N, "sum": sum of (i+1)*2+3 over i<N}.

hitl        Human in the loop: `ask` (StartEvent, user=i) returns
            InputRequiredEvent(prefix="name?", user=i), which the reference
            publishes to the run's event stream; `greet` takes a
            HumanResponseEvent and stops with "Hello, {response}!". N runs
            started at once; for each, the caller reads handler.stream_events(),
            answers the InputRequiredEvent with
            handler.ctx.send_event(HumanResponseEvent(response=f"user{i}")),
            then awaits the result and checks it is "Hello, user{i}!".
            ops = N (round trips); result = {"runs": N, "correct": N}.

state       `start` sends Bump(worker=k) for k in 0..8; `bump` (8 workers) does
            N read-modify-writes of the shared state, each
            `async with ctx.store.edit_state() as state:
                 state["count"] = state.get("count", 0) + 1`,
            then returns Bumped; `gather` (1 worker) collects the 8 Bumped and
            stops with ctx.store.get("count"). One run.
            ops = 8*N; result = {"count": 8*N}.

Steps whose worker count is not given above use the reference's default (4).
"""

import asyncio
import json
import sys
import time
from typing import Any, Awaitable, Callable

from workflows import Context, Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class WrongResult(Exception):
    """A workflow gave a result other than the expected one."""


def check(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise WrongResult(f"{what}: expected {expected!r}, got {actual!r}")


# --- chain -------------------------------------------------------------------


class Hop1(Event):
    n: int


class Hop2(Event):
    n: int


class Hop3(Event):
    n: int


class Hop4(Event):
    n: int


class Hop5(Event):
    n: int


class Hop6(Event):
    n: int


class Hop7(Event):
    n: int


class Hop8(Event):
    n: int


class Hop9(Event):
    n: int


class Chain(Workflow):
    @step
    async def s1(self, ev: StartEvent) -> Hop1:
        return Hop1(n=ev.get("n", 0) + 1)

    @step
    async def s2(self, ev: Hop1) -> Hop2:
        return Hop2(n=ev.n + 1)

    @step
    async def s3(self, ev: Hop2) -> Hop3:
        return Hop3(n=ev.n + 1)

    @step
    async def s4(self, ev: Hop3) -> Hop4:
        return Hop4(n=ev.n + 1)

    @step
    async def s5(self, ev: Hop4) -> Hop5:
        return Hop5(n=ev.n + 1)

    @step
    async def s6(self, ev: Hop5) -> Hop6:
        return Hop6(n=ev.n + 1)

    @step
    async def s7(self, ev: Hop6) -> Hop7:
        return Hop7(n=ev.n + 1)

    @step
    async def s8(self, ev: Hop7) -> Hop8:
        return Hop8(n=ev.n + 1)

    @step
    async def s9(self, ev: Hop8) -> Hop9:
        return Hop9(n=ev.n + 1)

    @step
    async def s10(self, ev: Hop9) -> StopEvent:
        return StopEvent(result=ev.n + 1)


async def chain(n: int) -> tuple[float, int, dict]:
    workflow = Chain(timeout=None)
    check(await workflow.run(n=0), 10, "chain warm-up run")

    started = time.perf_counter()
    total = 0
    for _ in range(n):
        total += await workflow.run(n=0)
    seconds = time.perf_counter() - started

    result = {"runs": n, "sum": total}
    check(result, {"runs": n, "sum": 10 * n}, "chain")
    return seconds, n, result


# --- fanout ------------------------------------------------------------------


class Work(Event):
    value: int


class WorkDone(Event):
    value: int


class FanOut(Workflow):
    @step
    async def fan_out(self, ctx: Context, ev: StartEvent) -> Work | None:
        n = ev.get("n", 0)
        await ctx.store.set("n", n)
        for value in range(n):
            ctx.send_event(Work(value=value))
        return None

    @step(num_workers=8)
    async def work(self, ev: Work) -> WorkDone:
        return WorkDone(value=ev.value)

    @step(num_workers=1)
    async def gather(self, ctx: Context, ev: WorkDone) -> StopEvent | None:
        n = await ctx.store.get("n")
        done = ctx.collect_events(ev, [WorkDone] * n)
        if done is None:
            return None
        return StopEvent(
            result={"sum": sum(d.value for d in done), "count": len(done)}
        )


async def fanout(n: int) -> tuple[float, int, dict]:
    workflow = FanOut(timeout=None)
    check(await workflow.run(n=10), {"sum": 45, "count": 10}, "fanout warm-up run")

    started = time.perf_counter()
    stopped = await workflow.run(n=n)
    seconds = time.perf_counter() - started

    result = {"count": stopped["count"], "sum": stopped["sum"]}
    check(result, {"count": n, "sum": n * (n - 1) // 2}, "fanout")
    return seconds, n, result


# --- concurrent --------------------------------------------------------------


class Mid1(Event):
    n: int


class Mid2(Event):
    n: int


class Concurrent(Workflow):
    @step
    async def s1(self, ev: StartEvent) -> Mid1:
        return Mid1(n=ev.get("n", 0) + 1)

    @step
    async def s2(self, ev: Mid1) -> Mid2:
        return Mid2(n=ev.n * 2)

    @step
    async def s3(self, ev: Mid2) -> StopEvent:
        return StopEvent(result=ev.n + 3)


async def concurrent(n: int) -> tuple[float, int, dict]:
    workflow = Concurrent(timeout=None)
    warm = await asyncio.gather(*(workflow.run(n=i) for i in range(10)))
    check(sum(warm), sum((i + 1) * 2 + 3 for i in range(10)), "concurrent warm-up")

    started = time.perf_counter()
    results = await asyncio.gather(*(workflow.run(n=i) for i in range(n)))
    seconds = time.perf_counter() - started

    result = {"runs": len(results), "sum": sum(results)}
    check(
        result,
        {"runs": n, "sum": sum((i + 1) * 2 + 3 for i in range(n))},
        "concurrent",
    )
    return seconds, n, result


# --- hitl --------------------------------------------------------------------


class Greeter(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        # Events accept extra fields: the request carries the user's index so
        # the caller knows whom to answer for.
        return InputRequiredEvent(prefix="name?", user=ev.get("user"))

    @step
    async def greet(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"Hello, {ev.response}!")


async def converse(workflow: Greeter, user: int) -> bool:
    """One run: answer its input request from outside, return whether the
    greeting is the expected one."""
    handler = workflow.run(user=user)
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            if ev.get("user") != user:
                raise WrongResult(f"hitl: run {user} asked for user {ev.get('user')!r}")
            handler.ctx.send_event(HumanResponseEvent(response=f"user{user}"))
    return await handler == f"Hello, user{user}!"


async def hitl(n: int) -> tuple[float, int, dict]:
    workflow = Greeter(timeout=None)
    warm = await asyncio.gather(*(converse(workflow, i) for i in range(10)))
    check(sum(warm), 10, "hitl warm-up correct answers")

    started = time.perf_counter()
    answers = await asyncio.gather(*(converse(workflow, i) for i in range(n)))
    seconds = time.perf_counter() - started

    result = {"runs": len(answers), "correct": sum(answers)}
    check(result, {"runs": n, "correct": n}, "hitl")
    return seconds, n, result


# --- state -------------------------------------------------------------------

STATE_WORKERS = 8


class Bump(Event):
    worker: int


class Bumped(Event):
    worker: int


class SharedCounter(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Bump | None:
        await ctx.store.set("iterations", ev.get("iterations", 0))
        for worker in range(STATE_WORKERS):
            ctx.send_event(Bump(worker=worker))
        return None

    @step(num_workers=STATE_WORKERS)
    async def bump(self, ctx: Context, ev: Bump) -> Bumped:
        iterations = await ctx.store.get("iterations")
        for _ in range(iterations):
            async with ctx.store.edit_state() as state:
                state["count"] = state.get("count", 0) + 1
        return Bumped(worker=ev.worker)

    @step(num_workers=1)
    async def gather(self, ctx: Context, ev: Bumped) -> StopEvent | None:
        if ctx.collect_events(ev, [Bumped] * STATE_WORKERS) is None:
            return None
        return StopEvent(result=await ctx.store.get("count", default=0))


async def state(n: int) -> tuple[float, int, dict]:
    workflow = SharedCounter(timeout=None)
    check(await workflow.run(iterations=10), STATE_WORKERS * 10, "state warm-up run")

    started = time.perf_counter()
    count = await workflow.run(iterations=n)
    seconds = time.perf_counter() - started

    result = {"count": count}
    check(result, {"count": STATE_WORKERS * n}, "state")
    return seconds, STATE_WORKERS * n, result


# --- driver ------------------------------------------------------------------

WORKLOADS: dict[str, Callable[[int], Awaitable[tuple[float, int, dict]]]] = {
    "chain": chain,
    "fanout": fanout,
    "concurrent": concurrent,
    "hitl": hitl,
    "state": state,
}


def main(argv: list[str]) -> int:
    usage = f"usage: {argv[0]} {{{'|'.join(WORKLOADS)}}} SIZE"
    if len(argv) != 3 or argv[1] not in WORKLOADS:
        print(usage, file=sys.stderr)
        return 2
    try:
        size = int(argv[2])
    except ValueError:
        size = -1
    if size < 1:
        print(f"{usage}\nSIZE must be a positive integer", file=sys.stderr)
        return 2

    name = argv[1]
    try:
        seconds, ops, result = asyncio.run(WORKLOADS[name](size))
    except WrongResult as error:
        print(f"{name} {size}: wrong result: {error}", file=sys.stderr)
        return 1

    print(
        json.dumps(
            {
                "workload": name,
                "size": size,
                "seconds": round(seconds, 6),
                "ops": ops,
                "result": result,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
