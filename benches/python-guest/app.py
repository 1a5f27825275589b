"""A two-step joke workflow written in Python against the raw WIT bindings
(no SDK): the Python-sized component (~18 MB) that the compiled-component
cache benchmark (`benches/cache_warm.sh`) loads cold and warm."""

import json

from wit_world import WitWorld
from wit_world.imports import types

START, JOKE, STOP = "StartEvent", "Joke", "StopEvent"


def _spec(name, accepts, emits):
    return types.StepSpec(name=name, accepts=[accepts], emits=[emits], num_workers=1, retry=None, timeout_ms=None)


class WitWorld(WitWorld):
    def describe(self) -> types.ComponentInfo:
        joke_schema = json.dumps({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
        return types.ComponentInfo(
            steps=[_spec("write_joke", START, JOKE), _spec("critique", JOKE, STOP)],
            events=[types.EventType(name=JOKE, kind=types.EventKind.PLAIN, schema=joke_schema)],
            state=None,
            workflow=None,
        )

    def handle(self, step: str, ev: types.Event) -> list[types.Event]:
        data = json.loads(ev.data)
        if step == "write_joke":
            text = f"Why did the {data.get('topic', 'snake')} cross the road? To get to the other tide."
            return [types.Event(name=JOKE, data=json.dumps({"text": text}))]
        return [types.Event(name=STOP, data=json.dumps({"result": data["text"] + " (critiqued in Python)"}))]
