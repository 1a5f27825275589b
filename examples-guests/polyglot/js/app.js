// The JavaScript part of the polyglot workflow: `finish` takes the Python
// step's `Answered`, records itself in the shared state, reads the whole
// state and stops the run with what the three languages did. `Answered` is
// owned by the Python component and declared here, with the same fields, to
// decode it.

import { Event, StopEvent, Workflow, step } from "wflow";

/** The human's answer (owned by the Python component). */
export class Answered extends Event {
  static fields = { answer: "string", greeting: "string" };
}

const finish = step({ accepts: [Answered], emits: [StopEvent], numWorkers: 1 }, (ctx, ev) => {
  ctx.store.set("languages.javascript", { step: ctx.stepName, runtime: "StarlingMonkey (SpiderMonkey)" });
  ctx.store.editState((state) => {
    state.ran.push("javascript");
  });
  const state = ctx.store.getState();
  return new StopEvent({
    result: {
      answer: ev.answer,
      greeting: `${ev.greeting}! (from ${state.ran.join(", ")})`,
      ran: state.ran,
      languages: state.languages,
    },
  });
});

export default new Workflow({ steps: { finish } });
