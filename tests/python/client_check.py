#!/usr/bin/env python3
"""Drive a running `wflow serve` with the official Python client.

The point is to prove that the reference client, unchanged, works against the
wflow server: everything below goes through the public API of
`llama-agents-client` (pinned: ``pip install llama-agents-client==0.4.1``,
which pulls `llama-index-workflows` for the event classes). No raw HTTP.

The server must serve the `joke`, `ask` and `retry` guests:

    wflow serve examples-guests/joke examples-guests/bench/ask \
        examples-guests/retry --in-memory --bind 127.0.0.1:8766

Usage:

    python tests/python/client_check.py http://127.0.0.1:8766 [--token TOKEN]

With a token (a server with tenants) the client sends it through its httpx
client, as the reference's users do, and one more check makes sure a client
without a token is refused (401).

Prints one `ok` line per check passed; on the first failure prints `FAIL`
with what was expected and what came back, and exits 1. Exit 2 means bad
usage or a missing client library.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any, Awaitable, Callable

try:
    import httpx
    from llama_agents.client import WorkflowClient
    from workflows.events import (
        HumanResponseEvent,
        InputRequiredEvent,
        StartEvent,
        StopEvent,
    )
except ImportError as exc:  # pragma: no cover - environment problem
    print(
        f"client_check: cannot import the client ({exc}); "
        "install it with: pip install llama-agents-client==0.4.1",
        file=sys.stderr,
    )
    sys.exit(2)

# Per-check wall clock limit: a wrong server must fail the check, not hang it.
CHECK_TIMEOUT = 30.0


class CheckFailed(Exception):
    pass


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


async def expect_http_error(
    what: str, coro: Awaitable[Any], status: int
) -> httpx.HTTPStatusError:
    """Await `coro`, which must raise the client's HTTPStatusError with `status`."""
    try:
        got = await coro
    except httpx.HTTPStatusError as exc:
        expect(
            exc.response.status_code == status,
            f"{what}: expected HTTP {status}, the client raised for "
            f"HTTP {exc.response.status_code}: {exc}",
        )
        return exc
    raise CheckFailed(
        f"{what}: expected the client to raise httpx.HTTPStatusError "
        f"(HTTP {status}), it returned {got!r}"
    )


def result_value(handler: Any) -> Any:
    """The run result, read the way a client user reads it: load the result
    envelope back into a StopEvent and take `.result`."""
    expect(handler.result is not None, f"handler {handler.handler_id} has no result")
    ev = handler.result.load_event()
    expect(
        isinstance(ev, StopEvent),
        f"result envelope loaded as {type(ev).__name__}, expected a StopEvent "
        f"(envelope: {handler.result!r})",
    )
    return ev.result


def handler_ids(listing: Any) -> list[str]:
    return [h.handler_id for h in listing.handlers]


def unique(prefix: str) -> str:
    return f"client-check-{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------
# checks


async def check_health_and_list(client: WorkflowClient) -> str:
    health = await client.is_healthy()
    expect(health.status == "healthy", f"is_healthy: status {health.status!r}")
    listed = await client.list_workflows()
    missing = {"joke", "ask", "retry"} - set(listed.workflows)
    expect(not missing, f"list_workflows: {listed.workflows} lacks {sorted(missing)}")
    return f"is_healthy -> healthy; list_workflows -> {listed.workflows}"


async def check_run_joke(client: WorkflowClient) -> str:
    handler = await client.run_workflow("joke", start_event=StartEvent(topic="pirates"))
    expect(
        handler.status == "completed",
        f"run_workflow(joke): status {handler.status!r}, error {handler.error!r}",
    )
    expect(handler.workflow_name == "joke", f"workflow_name {handler.workflow_name!r}")
    expect(handler.completed_at is not None, "completed handler has completed_at null")
    result = result_value(handler)
    expect(
        isinstance(result, str) and "pirates" in result,
        f"run_workflow(joke): result {result!r} does not mention 'pirates'",
    )
    # The same handler read back through get_handler.
    again = await client.get_handler(handler.handler_id)
    expect(again.status == "completed", f"get_handler: status {again.status!r}")
    expect(result_value(again) == result, "get_handler: result differs from run's")
    return f"run_workflow(joke, topic=pirates) -> completed: {result!r}"


async def check_hitl(client: WorkflowClient) -> str:
    started = await client.run_workflow_nowait("ask", start_event=StartEvent(user=7))
    hid = started.handler_id
    expect(
        started.status == "running",
        f"run_workflow_nowait(ask): status {started.status!r}, expected running",
    )

    stream = client.get_workflow_events(hid)
    seen: list[str] = []
    prompt: InputRequiredEvent | None = None
    stop: StopEvent | None = None
    async for envelope in stream:
        seen.append(envelope.type)
        ev = envelope.load_event()
        if envelope.type == "InputRequiredEvent":
            expect(
                isinstance(ev, InputRequiredEvent),
                f"InputRequiredEvent envelope loaded as {type(ev).__name__}",
            )
            expect(prompt is None, f"second InputRequiredEvent on the stream: {seen}")
            prompt = ev
            # As a user would: dynamic fields are attributes of the event.
            expect(
                ev.prefix == "name?",
                f"InputRequiredEvent.prefix is {ev.get('prefix')!r}, expected 'name?' "
                f"(envelope value: {envelope.value!r})",
            )
            expect(
                ev.get("user") == 7,
                f"InputRequiredEvent.user is {ev.get('user')!r}, expected 7 "
                f"(envelope value: {envelope.value!r})",
            )
            sent = await client.send_event(hid, HumanResponseEvent(response="Ada"))
            expect(sent.status == "sent", f"send_event: status {sent.status!r}")
        elif isinstance(ev, StopEvent):
            stop = ev
    # Leaving the loop means the server closed the stream.
    expect(prompt is not None, f"no InputRequiredEvent on the stream; saw {seen}")
    expect(stop is not None, f"stream ended without a StopEvent; saw {seen}")
    expect(seen[-1] == "StopEvent", f"stream did not end with the StopEvent: {seen}")
    expect(
        stop.result == "Hello, Ada!",
        f"StopEvent on the stream has result {stop.result!r}, expected 'Hello, Ada!'",
    )
    last = stream.last_sequence
    expect(isinstance(last, int), f"EventStream.last_sequence is {last!r}, not an int")

    handler = await client.get_handler(hid)
    expect(
        handler.status == "completed",
        f"get_handler after the StopEvent: status {handler.status!r}",
    )
    got = result_value(handler)
    expect(got == "Hello, Ada!", f"get_handler: result {got!r}, expected 'Hello, Ada!'")

    waited = await client.wait_for_handler(hid, timeout=5)
    expect(waited.status == "completed", f"wait_for_handler: status {waited.status!r}")

    # Resuming from the cursor after the end: nothing more, and the stream ends.
    rest = [e.type async for e in client.get_workflow_events(hid, after_sequence=last)]
    expect(not rest, f"resumed stream after sequence {last} yielded {rest}")

    # The whole stream again with the runtime's internal events.
    internal = [
        e.type
        async for e in client.get_workflow_events(hid, include_internal_events=True)
    ]
    expect(
        internal.count("StepStateChanged") == 4 and "WorkflowIdleEvent" in internal,
        f"include_internal_events: no step state changes or idle event in {internal}",
    )
    public = [t for t in internal if t not in ("StepStateChanged", "WorkflowIdleEvent")]
    expect(
        public == ["InputRequiredEvent", "StopEvent"],
        f"include_internal_events: the public events are {public}",
    )
    return (
        f"ask: stream {seen}, prefix 'name?', send_event -> sent, "
        f"get_handler -> completed {got!r}"
    )


async def check_hitl_example(client: WorkflowClient) -> str:
    """The `hitl` example asks with ctx.wait_for_event inside its step."""
    started = await client.run_workflow_nowait("hitl", start_event=StartEvent())
    hid = started.handler_id
    seen: list[str] = []
    result = None
    async for envelope in client.get_workflow_events(hid):
        seen.append(envelope.type)
        ev = envelope.load_event()
        if envelope.type == "InputRequiredEvent":
            expect(
                ev.prefix == "What's your name? ",
                f"hitl prompt is {ev.get('prefix')!r} (envelope value: {envelope.value!r})",
            )
            sent = await client.send_event(hid, HumanResponseEvent(response="Grace"))
            expect(sent.status == "sent", f"send_event: status {sent.status!r}")
        elif isinstance(ev, StopEvent):
            result = ev.result
    expect(result == "Hello, Grace!", f"hitl stream ended with {result!r}; saw {seen}")
    handler = await client.get_handler(hid)
    got = result_value(handler)
    expect(got == "Hello, Grace!", f"hitl get_handler: result {got!r}")
    return f"hitl: stream {seen}, answered, get_handler -> completed {got!r}"


async def check_cancel(client: WorkflowClient) -> str:
    started = await client.run_workflow_nowait("ask", start_event=StartEvent(user=8))
    hid = started.handler_id
    expect(started.status == "running", f"run_workflow_nowait: status {started.status!r}")

    cancelled = await client.cancel_handler(hid)
    expect(
        cancelled.status == "cancelled",
        f"cancel_handler: status {cancelled.status!r}, expected 'cancelled'",
    )
    listing = await client.get_handlers(status=["cancelled"])
    expect(
        hid in handler_ids(listing),
        f"get_handlers(status=[cancelled]) lacks {hid}: {handler_ids(listing)}",
    )
    expect(
        all(h.status == "cancelled" for h in listing.handlers),
        f"get_handlers(status=[cancelled]) returned other statuses: "
        f"{[h.status for h in listing.handlers]}",
    )
    mine = next(h for h in listing.handlers if h.handler_id == hid)
    expect(mine.completed_at is not None, "cancelled handler has completed_at null")
    expect(mine.error is None, f"cancelled handler has error {mine.error!r}")

    # Like the reference, a cancelled handler reads as HTTP 500 (handler body).
    await expect_http_error("get_handler(cancelled)", client.get_handler(hid), 500)

    # Its stream holds the cancellation and then ends.
    types = [e.type async for e in client.get_workflow_events(hid)]
    expect(
        types and types[-1] == "WorkflowCancelledEvent",
        f"stream of a cancelled run: {types}, expected it to end with "
        "WorkflowCancelledEvent",
    )
    return (
        f"ask {hid}: cancel_handler -> cancelled, listed as cancelled, "
        f"get_handler raises HTTP 500, stream ends with {types[-1]}"
    )


async def check_failure(client: WorkflowClient) -> str:
    ok = await client.run_workflow("retry", start_event=StartEvent(fail_times=0))
    expect(ok.status == "completed", f"run_workflow(retry, 0): status {ok.status!r}")
    value = result_value(ok)
    expect(
        isinstance(value, dict) and value.get("attempts") == 1,
        f"run_workflow(retry, 0): result {value!r}, expected attempts == 1",
    )

    hid = unique("fail")
    exc = await expect_http_error(
        "run_workflow(retry, fail_times=5)",
        client.run_workflow("retry", handler_id=hid, start_event=StartEvent(fail_times=5)),
        500,
    )
    listing = await client.get_handlers(status=["failed"])
    failed = [h for h in listing.handlers if h.handler_id == hid]
    expect(
        failed,
        f"get_handlers(status=[failed]) lacks {hid}: {handler_ids(listing)} "
        f"(run_workflow raised: {exc})",
    )
    h = failed[0]
    expect(h.status == "failed", f"failed handler has status {h.status!r}")
    expect(h.workflow_name == "retry", f"workflow_name {h.workflow_name!r}")
    expect(h.result is None, f"failed handler has result {h.result!r}")
    expect(
        h.error is not None and "attempt" in h.error,
        f"failed handler error {h.error!r} does not mention 'attempt'",
    )
    await expect_http_error("get_handler(failed)", client.get_handler(hid), 500)
    return f"retry fail_times=5: run_workflow raised HTTP 500; listed failed, error {h.error!r}"


async def check_schemas(client: WorkflowClient) -> str:
    schema = await client.get_workflow_schema("ask")
    expect(
        isinstance(schema.start, dict) and isinstance(schema.stop, dict),
        f"get_workflow_schema: {schema!r}",
    )
    events = await client.get_workflow_events_schema("ask")
    titles = sorted(str(e.get("title")) for e in events.events)
    for needed in ("HumanResponseEvent", "InputRequiredEvent"):
        expect(needed in titles, f"get_workflow_events_schema(ask): {titles} lacks {needed}")
    graph = (await client.get_workflow_graph("ask")).graph
    node_ids = {n.id for n in graph.nodes}
    expect("ask" in node_ids, f"get_workflow_graph(ask): nodes {sorted(node_ids)} lack 'ask'")
    expect(graph.edges, "get_workflow_graph(ask): no edges")
    return (
        f"ask: schema start={schema.start.get('title')!r} stop={schema.stop.get('title')!r}; "
        f"events {titles}; graph {len(graph.nodes)} nodes, {len(graph.edges)} edges"
    )


CHECKS: list[tuple[str, Callable[[WorkflowClient], Awaitable[str]]]] = [
    ("health+list", check_health_and_list),
    ("run joke", check_run_joke),
    ("hitl ask", check_hitl),
    ("hitl example", check_hitl_example),
    ("cancel", check_cancel),
    ("failure", check_failure),
    ("schemas", check_schemas),
]


async def check_no_token(base_url: str) -> str:
    """On a server with tenants, a client without a token is refused (401)."""
    client = WorkflowClient(base_url=base_url)
    await expect_http_error("list_workflows without a token", client.list_workflows(), 401)
    await expect_http_error(
        "run_workflow without a token",
        client.run_workflow("joke", start_event=StartEvent(topic="x")),
        401,
    )
    return "list_workflows and run_workflow without a token -> 401"


async def main(base_url: str, token: str | None) -> int:
    checks = list(CHECKS)
    if token is None:
        client = WorkflowClient(base_url=base_url)
    else:
        # The reference client's way to authenticate: its httpx client.
        client = WorkflowClient(
            httpx_client=httpx.AsyncClient(
                base_url=base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=CHECK_TIMEOUT,
            )
        )
        checks.append(("no token", lambda _client: check_no_token(base_url)))
    for n, (name, check) in enumerate(checks, 1):
        try:
            detail = await asyncio.wait_for(check(client), CHECK_TIMEOUT)
        except CheckFailed as exc:
            print(f"FAIL {n} {name}: {exc}")
            return 1
        except asyncio.TimeoutError:
            print(f"FAIL {n} {name}: no answer within {CHECK_TIMEOUT:.0f}s")
            return 1
        except Exception as exc:  # the client itself raised: wire mismatch
            print(f"FAIL {n} {name}: client raised {type(exc).__name__}: {exc}")
            return 1
        print(f"ok {n} {name}: {detail}")
    print(f"all {len(checks)} checks passed against {base_url}")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    token = None
    if len(args) == 3 and args[1] == "--token":
        token = args[2]
        args = args[:1]
    if len(args) != 1:
        print(f"usage: {sys.argv[0]} BASE_URL [--token TOKEN]", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(args[0].rstrip("/"), token)))
