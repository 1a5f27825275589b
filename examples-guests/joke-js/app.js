// start -> writeJoke -> Joke -> critique -> stop, as examples-guests/joke,
// written as the seed writes it: a Workflow subclass whose methods are steps.

import { Event, StartEvent, StopEvent, ValueError, Workflow } from "wflow";

/** A joke about the run's topic. */
export class Joke extends Event {
  static description = "A joke about the run's topic.";
  static fields = { text: "string" };
}

export default class JokeFlow extends Workflow {
  static steps = {
    writeJoke: { accepts: [StartEvent], emits: [Joke] },
    critique: { accepts: [Joke], emits: [StopEvent], numWorkers: 2 },
  };

  async writeJoke(ctx, ev) {
    const topic = ev.get("topic");
    if (typeof topic !== "string") throw new ValueError("the start event needs a string `topic`");
    ctx.store.set("topic", topic);
    return new Joke({ text: `Why did the ${topic} cross the road? To get to the other tide.` });
  }

  async critique(ctx, ev) {
    const topic = ctx.store.get("topic");
    return new StopEvent({
      result: `${ev.text} -- a fine joke about ${topic}, though the pun is doing all the work.`,
    });
  }
}
