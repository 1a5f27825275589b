// The golden workflow, in JavaScript: one of three identical workflows (with
// `golden` in Rust and `golden-py`) whose `describe` outputs
// `tests/sdk_agreement.rs` requires to be byte-identical. It takes an order
// (a step with the default options), prices it (a step with workers, a retry
// policy and a timeout), and asks a human to approve it (a step waiting for a
// `HumanResponseEvent`), keeping a ledger in typed state and ending with a
// custom stop event.
//
// Keep the three in step: same types, fields, docs, steps and options, in the
// same order.

import {
  ConstantDelayRetryPolicy,
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  RetryPolicy,
  StartEvent,
  StopEvent,
  Workflow,
  step,
} from "wflow";

export class Customer extends Event {
  static description = "Who placed an order.";
  static fields = { name: "string", vip: "boolean" };
}

export class Order extends Event {
  static description = "An order to price.";
  static fields = {
    id: "string",
    quantity: "integer",
    price: "number",
    express: "boolean",
    tags: ["string"],
    note: "string?",
    customer: Customer,
  };
}

export class Priced extends Event {
  static description = "An order with its total.";
  static fields = { order_id: "string", total: "number" };
}

export class Receipt extends StopEvent {
  static description = "The reviewed order: the run's result.";
  static fields = { order_id: "string", total: "number", approved: "boolean", reviewer: "string?" };
}

const take_order = step({ accepts: [StartEvent], emits: [Order] }, (ctx, ev) => {
  ctx.store.editState((ledger) => {
    ledger.orders += 1;
    ledger.last_order = ev.id;
  });
  return new Order({
    id: ev.id,
    quantity: ev.get("quantity", 1),
    price: ev.price,
    express: ev.get("express", false),
    tags: ev.get("tags", []),
    note: ev.get("note", null),
    customer: { name: ev.customer, vip: ev.get("vip", false) },
  });
});

const price = step(
  {
    accepts: [Order],
    emits: [Priced],
    numWorkers: 2,
    timeoutMs: 30_000,
    retry: RetryPolicy.exponential({
      delayMs: 250,
      maxAttempts: 5,
      multiplier: 3,
      maxDelayMs: 4_000,
      jitter: 0.25,
      retryOn: ["TransientError"],
    }),
  },
  (ctx, ev) => {
    const rate = ev.express ? 1.5 : 1.0;
    return new Priced({ order_id: ev.id, total: ev.quantity * ev.price * rate });
  },
);

const review = step(
  {
    accepts: [Priced],
    emits: [Receipt, InputRequiredEvent],
    waits: [HumanResponseEvent],
    retry: new ConstantDelayRetryPolicy(),
  },
  (ctx, ev) => {
    const answer = ctx.waitForEvent(HumanResponseEvent, {
      waiterEvent: new InputRequiredEvent({ prefix: `Approve order ${ev.order_id} for ${ev.total}? ` }),
      waiterId: "review",
      timeoutMs: 600_000,
    });
    const reviewer = String(answer.get("response", "")).trim();
    const approved = reviewer === "yes";
    if (approved) {
      ctx.store.editState((ledger) => {
        ledger.approvals.push(ev.order_id);
      });
    }
    return new Receipt({ order_id: ev.order_id, total: ev.total, approved, reviewer });
  },
);

export default new Workflow({
  name: "GoldenFlow",
  steps: { take_order, price, review },
  state: {
    title: "Ledger",
    description: "The workflow's ledger.",
    fields: { orders: "integer", approvals: ["string"], last_order: "string?" },
    defaults: { orders: 0, approvals: [], last_order: null },
  },
});
