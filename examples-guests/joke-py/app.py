"""start -> write_joke -> Joke -> critique -> stop, in Python."""

from wflow import Context, Event, StartEvent, StopEvent, Workflow, step


class Joke(Event):
    """A joke about the run's topic."""

    text: str


class JokeFlow(Workflow):
    @step
    async def write_joke(self, ctx: Context, ev: StartEvent) -> Joke:
        topic = ev.topic
        await ctx.store.set("topic", topic)
        return Joke(text=f"Why did the {topic} cross the road? To get to the other tide.")

    @step(num_workers=2)
    async def critique(self, ctx: Context, ev: Joke) -> StopEvent:
        topic = await ctx.store.get("topic")
        return StopEvent(
            result=f"{ev.text} -- a fine joke about {topic}, though the pun is doing all the work."
        )
