"""A consumer whose idea of `Joke` differs from its Rust producer's."""

from wflow import Event, StopEvent, step


class Joke(Event):
    """A joke, numbered rather than told."""

    text: int


@step
def rate(ev: Joke) -> StopEvent:
    return StopEvent(result=f"joke number {ev.text}")
