"""Runs a conformance scenario on the reference (llama-index-workflows), as
its users run it: `wf.run(**input)`, the events streamed, answers sent with
`handler.ctx.send_event`, then `await handler`. Prints one JSON transcript
per case, a list, on stdout:

    {"case": NAME, "events": [{"type": T, "data": {...}}], "result": R, "error": {"kind": K, "message": M}}

    python reference.py SCENARIO_DIR

`SCENARIO_DIR/app.py` is the workflow, written against the reference's
imports; `SCENARIO_DIR/cases.json` lists the cases. The Rust side
(tests/conformance.rs) runs the same file with its imports changed to
`wflow` and writes the same transcript; normalisation is described in
tests/conformance/README.md.
"""

import asyncio
import importlib.util
import inspect
import json
import sys
from pathlib import Path

from workflows import Workflow
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StopEvent

#: The runtime's own events, which neither side compares.
INTERNAL = {"StepStateChanged", "WorkflowIdleEvent", "EventsQueueChanged"}


def load(scenario):
    spec = importlib.util.spec_from_file_location("app", scenario / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


def workflow_class(module):
    classes = [value for value in vars(module).values()
               if inspect.isclass(value) and issubclass(value, Workflow) and value is not Workflow
               and value.__module__ == module.__name__]
    return classes[-1]


def event_of(module, spec):
    builtins = {"HumanResponseEvent": HumanResponseEvent, "InputRequiredEvent": InputRequiredEvent}
    cls = builtins.get(spec["type"]) or getattr(module, spec["type"])
    return cls(**spec.get("data", {}))


def payload(ev):
    """An event's fields as JSON. A dict-like event (`InputRequiredEvent`,
    `StartEvent`) keeps its free fields in `_data`: they are its fields."""
    data = json.loads(ev.model_dump_json())
    free = data.pop("_data", None)
    if isinstance(free, dict):
        data.update(free)
    return data


def result_of(value):
    if isinstance(value, Event):
        return payload(value)
    return json.loads(json.dumps(value, default=str))


async def run_case(module, case):
    transcript = {"case": case["name"], "events": [], "result": None, "error": None}
    sends = list(case.get("sends", []))
    try:
        workflow = workflow_class(module)(timeout=case.get("timeout", 45.0))
        handler = workflow.run(**case.get("input", {}))
        async for ev in handler.stream_events():
            name = type(ev).__name__
            if name in INTERNAL or isinstance(ev, StopEvent):
                continue
            transcript["events"].append({"type": name, "data": payload(ev)})
            while sends and sends[0]["after"] == name:
                handler.ctx.send_event(event_of(module, sends.pop(0)))
        transcript["result"] = result_of(await handler)
    except Exception as err:  # the run's error, as its caller gets it
        transcript["error"] = {"kind": type(err).__name__, "message": str(err)}
    return transcript


async def main(scenario):
    module = load(scenario)
    cases = json.loads((scenario / "cases.json").read_text())
    out = []
    for case in cases:
        out.append(await run_case(module, case))
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
