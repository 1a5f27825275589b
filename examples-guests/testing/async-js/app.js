// Promises and timers inside a step: two setTimeout sleeps pending at once,
// a race against a timeout, and a step timeout stopping a long sleep.

import { StartEvent, StopEvent, Workflow } from "wflow";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default class AsyncFlow extends Workflow {
  static steps = {
    run: { accepts: [StartEvent], emits: [StopEvent], timeoutMs: 2000 },
  };

  async run(ctx, ev) {
    if (ev.get("oversleep")) await sleep(30_000);
    const pause = (ev.get("pause") ?? 0.5) * 1000;
    const order = [];
    const later = async (name, ms) => {
      await sleep(ms);
      order.push(name);
      return name;
    };
    const started = Date.now();
    const both = await Promise.all([later("slow", pause), later("fast", pause * 0.8)]);
    const elapsed = (Date.now() - started) / 1000;
    const timedOut = await Promise.race([sleep(5000).then(() => false), sleep(50).then(() => true)]);
    return new StopEvent({ result: { both, order, elapsed: Math.round(elapsed * 10) / 10, timed_out: timedOut } });
  }
}
