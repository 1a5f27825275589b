// Fan out N work items to a step with four workers, collect the results,
// stop with their sum: examples-guests/fanout, with free step functions.

import { Event, StartEvent, StopEvent, Workflow, step } from "wflow";

/** One item of work. */
export class Work extends Event {
  static description = "One item of work.";
  static fields = { value: "integer" };
}

/** A finished item. */
export class WorkDone extends Event {
  static description = "A finished item.";
  static fields = { value: "integer" };
}

const fanOut = step({ accepts: [StartEvent], emits: [Work] }, (ctx, ev) => {
  const n = ev.get("n", 100);
  ctx.store.set("n", n);
  for (let value = 0; value < n; value++) {
    ctx.sendEvent(new Work({ value }));
  }
});

const work = step({ accepts: [Work], emits: [WorkDone], numWorkers: 4 }, (ctx, ev) => new WorkDone({ value: ev.value }));

const gather = step({ accepts: [WorkDone], emits: [StopEvent], numWorkers: 1 }, (ctx, ev) => {
  const n = ctx.store.get("n");
  // The seed's `[WorkDone] * n`; Array(n).fill(WorkDone) works too but costs
  // O(n) in the interpreter on each of the n calls.
  const done = ctx.collectEvents(ev, [{ type: WorkDone, count: n }]);
  if (done === null) return null;
  const sum = done.reduce((total, d) => total + d.value, 0);
  return new StopEvent({ result: { sum, count: done.length } });
});

export default new Workflow({ steps: { fanOut, work, gather } });
