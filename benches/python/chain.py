"""The 10-step chain on llama-index-workflows (the reference), for comparison
with wflow's `runs/chain10_run` benchmark: the same shape (ten steps, each
passing one small event to the next, the last stopping with n + 10), N runs
one after another.

    python3 -m venv .venv && .venv/bin/pip install llama-index-workflows==2.26.1
    .venv/bin/python benches/python/chain.py [RUNS]
"""

import asyncio
import sys
import time

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent


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


async def main(runs: int) -> None:
    workflow = Chain(timeout=60)
    assert await workflow.run(n=0) == 10
    started = time.perf_counter()
    for _ in range(runs):
        result = await workflow.run(n=0)
        assert result == 10, result
    elapsed = time.perf_counter() - started
    print(
        f"python chain10: {runs} runs in {elapsed:.3f} s = {runs / elapsed:.1f} runs/s, "
        f"{elapsed / runs * 1e6:.0f} us per run"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
