// Plain-node tests of the JS guest SDK: schema derivation, step declarations,
// `describe` and `handle`, with a fake host bound in place of the WIT import
// `wflow:workflow/context@0.1.0`. Run: node --test guest-sdk/js/test/
//
// They check the SDK's own logic; that the host sees the same thing is
// checked by building examples-guests/*-js and running them with wflow.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import {
  ConstantDelayRetryPolicy,
  ContextError,
  Event,
  HumanResponseEvent,
  InputRequiredEvent,
  RetryPolicy,
  StartEvent,
  StepError,
  StopEvent,
  ValidationError,
  Workflow,
  bindHost,
  componentExports,
  defineEvent,
  jsonSchema,
  schemaOf,
  step,
  stepConfig,
  BUILDING,
  BUILD_ERROR_MARK,
} from "../index.js";
import { BUILDING_SOURCE, entrySource, guestMain, layout, reportedBuildError } from "../build.mjs";
import SDK_DEFAULTS from "../sdk-defaults.js";

const DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** A fake of the host's context interface, recording calls. */
function fakeHost({ state = {}, collect = () => undefined, wait, config = {} } = {}) {
  const calls = [];
  let current = structuredClone(state);
  const fail = (tag, val) => {
    // As componentize-js throws a result's error: a ComponentError-like object.
    const err = new Error(`${tag}`);
    err.payload = { tag, val };
    throw err;
  };
  const at = (path) => path.split(".").reduce((v, k) => (v == null ? undefined : v[k]), current);
  class StateEdit {
    constructor() {
      this.dropped = false;
    }
    current() {
      return JSON.stringify(current);
    }
    static commit(edit, text) {
      calls.push(["commit", JSON.parse(text)]);
      current = JSON.parse(text);
    }
    [Symbol.dispose || Symbol.for("dispose")]() {
      calls.push(["drop"]);
    }
  }
  const host = {
    calls,
    get state() {
      return current;
    },
    get(path) {
      calls.push(["get", path]);
      if (path === "") fail("invalid-path", "the path is empty");
      const v = at(path);
      return v === undefined ? undefined : JSON.stringify(v);
    },
    set(path, value) {
      calls.push(["set", path, JSON.parse(value)]);
      const keys = path.split(".");
      let obj = current;
      for (const k of keys.slice(0, -1)) obj = obj[k] ??= {};
      obj[keys.at(-1)] = JSON.parse(value);
    },
    getState: () => JSON.stringify(current),
    setState(text) {
      calls.push(["setState", JSON.parse(text)]);
      current = JSON.parse(text);
    },
    editState() {
      calls.push(["editState"]);
      return new StateEdit();
    },
    clear() {
      calls.push(["clear"]);
      current = {};
    },
    sendEvent(ev, stepName) {
      calls.push(["sendEvent", ev, stepName]);
      if (stepName === "ghost") fail("step-does-not-exist", "no step ghost");
    },
    writeEventToStream(ev) {
      calls.push(["writeEventToStream", ev]);
    },
    collectEvents(ev, expected, bufferId) {
      calls.push(["collectEvents", ev, expected, bufferId]);
      return collect(ev, expected, bufferId);
    },
    waitForEvent(name, waiter, waiterId, requirements, timeoutMs) {
      calls.push(["waitForEvent", name, waiter, waiterId, requirements, timeoutMs]);
      if (!wait) fail("timeout", `no ${name} within ${timeoutMs} ms`);
      return wait(name);
    },
    runningSteps: () => ["a", "b"],
    config: (key) => config[key],
    StateEdit,
  };
  bindHost(host);
  return host;
}

const wire = (name, data) => ({ name, data: JSON.stringify(data) });

class Joke extends Event {
  static description = "A joke about the run's topic.";
  static fields = { text: "string" };
}

test("an event class's schema is derived from its fields, as schemars does", () => {
  assert.deepEqual(schemaOf(Joke), {
    $schema: DIALECT,
    title: "Joke",
    description: "A joke about the run's topic.",
    type: "object",
    properties: { text: { type: "string" } },
    required: ["text"],
  });
  const Rich = defineEvent("Rich", {
    id: "integer",
    score: Number,
    tags: ["string"],
    note: "string?",
    anything: "any",
    nested: { ok: "boolean", at: "integer?" },
    joke: Joke,
    level: jsonSchema({ type: "integer", minimum: 0 }, { optional: true }),
  });
  assert.equal(Rich.name, "Rich");
  assert.deepEqual(schemaOf(Rich), {
    $schema: DIALECT,
    title: "Rich",
    type: "object",
    properties: {
      id: { type: "integer" },
      score: { type: "number" },
      tags: { type: "array", items: { type: "string" } },
      note: { type: ["string", "null"] },
      anything: {},
      nested: {
        type: "object",
        properties: { ok: { type: "boolean" }, at: { type: ["integer", "null"] } },
        required: ["ok"],
      },
      joke: { $ref: "#/$defs/Joke" },
      level: { type: "integer", minimum: 0 },
    },
    required: ["id", "score", "tags", "anything", "nested", "joke"],
    // A nested event type goes to $defs, without a title, as schemars and the Python SDK write it.
    $defs: {
      Joke: {
        description: "A joke about the run's topic.",
        type: "object",
        properties: { text: { type: "string" } },
        required: ["text"],
      },
    },
  });
  class Empty extends Event {}
  assert.deepEqual(schemaOf(Empty), { $schema: DIALECT, title: "Empty", type: "object" });
  assert.throws(() => schemaOf(defineEvent("Bad", { x: "str" })), /unknown type "str"/);
});

test("the built-in events have the schemas and kinds of wit/sdk-defaults.json", () => {
  const listed = new Map(SDK_DEFAULTS.events.map((entry) => [entry.name, entry]));
  for (const cls of [StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent]) {
    assert.deepEqual(schemaOf(cls), listed.get(cls.name).schema, cls.name);
    assert.equal(cls.kind, listed.get(cls.name).kind, cls.name);
  }
  assert.equal(schemaOf(StartEvent).additionalProperties, true);
  assert.equal(StartEvent.kind, "start");
  assert.equal(StopEvent.kind, "stop");
  assert.equal(InputRequiredEvent.kind, "input-required");
  assert.equal(HumanResponseEvent.kind, "human-response");
  // Subclasses keep the kind; with fields of their own, the schema follows them.
  class MyStop extends StopEvent {
    static fields = { answer: "integer" };
  }
  assert.equal(MyStop.kind, "stop");
  assert.deepEqual(schemaOf(MyStop).required, ["answer"]);
  class Topic extends StartEvent {}
  assert.equal(schemaOf(Topic).title, "Topic");
  assert.equal(schemaOf(Topic).additionalProperties, true);
});

test("events are dict-like and checked when built", () => {
  const start = new StartEvent({ topic: "pirates" });
  assert.equal(start.topic, "pirates");
  assert.equal(start.get("topic"), "pirates");
  assert.equal(start.get("missing", 7), 7);
  assert.deepEqual(JSON.parse(JSON.stringify(new StopEvent())), { result: null });
  assert.deepEqual(JSON.parse(JSON.stringify(new StopEvent({ result: { a: 1 } }))), { result: { a: 1 } });
  assert.throws(() => new Joke({}), (err) => err instanceof ValidationError && /missing field `text`/.test(err.message));
  assert.throws(() => new Joke({ text: 3 }), /text should be string, not a number/);
  assert.throws(() => new Joke("text"), TypeError);
  // A nested event type is checked through its $defs entry.
  const Pair = defineEvent("Pair", { first: Joke, rest: [Joke] });
  assert.throws(() => new Pair({ first: {}, rest: [] }), /missing field `first.text`/);
  assert.throws(() => new Pair({ first: { text: "a" }, rest: [{ text: 1 }] }), /rest\[0\]\.text should be string/);
  assert.equal(new Pair({ first: { text: "a" }, rest: [] }).first.text, "a");
});

test("step() records a declaration and returns the function", () => {
  const fn = (ctx, ev) => new StopEvent({ result: ev.text });
  const s = step({ accepts: Joke, emits: [StopEvent], numWorkers: 2, timeoutMs: 500 }, fn);
  assert.equal(s, fn);
  const spec = stepConfig(s);
  assert.deepEqual(spec.accepts, [Joke]);
  assert.equal(spec.numWorkers, 2);
  assert.equal(spec.timeoutMs, 500);
  assert.equal(stepConfig(step({ accepts: [Joke] })(() => {})).numWorkers, 4);
  assert.throws(() => step({ emits: [Joke] }, fn), /accepts must list at least one event class/);
  assert.throws(() => step({ accepts: [Joke], num_workers: 2 }, fn), /unknown step option num_workers/);
  assert.throws(() => step({ accepts: [String] }, fn), /not one/);
  assert.throws(() => step({ accepts: [Joke], numWorkers: 0 }, fn), /numWorkers must be a whole number >= 1/);
});

test("retry policies map to the WIT retry-policy", () => {
  assert.deepEqual(RetryPolicy.constant({ maxAttempts: 3, delayMs: 20 }).toWit(), {
    maxAttempts: 3,
    maxElapsedMs: undefined,
    delayMs: 20,
    backoff: "constant",
    multiplier: undefined,
    maxDelayMs: undefined,
    jitter: 0,
    retryOn: [],
    retryOnMessage: [],
  });
  assert.deepEqual(
    RetryPolicy.exponential({ delayMs: 100, maxAttempts: 5, jitter: 0.2, maxDelayMs: 2000, retryOn: ["Timeout"] }).toWit(),
    {
      maxAttempts: 5,
      maxElapsedMs: undefined,
      delayMs: 100,
      backoff: "exponential",
      multiplier: 2,
      maxDelayMs: 2000,
      jitter: 0.2,
      retryOn: ["Timeout"],
      retryOnMessage: [],
    },
  );
  assert.equal(new ConstantDelayRetryPolicy({ maximumAttempts: 10, delay: 0.5 }).toWit().delayMs, 500);
  assert.equal(new ConstantDelayRetryPolicy().toWit().maxAttempts, 3);
  assert.throws(() => RetryPolicy.exponential({ jitter: 2 }), /jitter/);
  assert.throws(() => new RetryPolicy({ delay: 5 }), /unknown retry option delay/);
});

test("retry and step defaults are the shared ones of wit/sdk-defaults.json", () => {
  const wit = (record) => ({
    maxAttempts: record.max_attempts ?? undefined,
    maxElapsedMs: record.max_elapsed_ms ?? undefined,
    delayMs: record.delay_ms,
    backoff: record.backoff,
    multiplier: record.multiplier ?? undefined,
    maxDelayMs: record.max_delay_ms ?? undefined,
    jitter: record.jitter,
    retryOn: record.retry_on,
    retryOnMessage: record.retry_on_message,
  });
  const defaults = SDK_DEFAULTS.retry_policy;
  assert.deepEqual(new RetryPolicy().toWit(), wit(defaults));
  assert.deepEqual(RetryPolicy.constant().toWit(), wit(defaults));
  assert.deepEqual(new ConstantDelayRetryPolicy().toWit(), wit(defaults));
  assert.deepEqual(RetryPolicy.exponential().toWit(), wit({ ...defaults, ...SDK_DEFAULTS.exponential_backoff }));
  assert.deepEqual(RetryPolicy.fromWit({ max_attempts: null }).toWit(), wit({ ...defaults, max_attempts: null }));
  const spec = stepConfig(step({ accepts: [StartEvent] }, () => undefined));
  assert.equal(spec.numWorkers, SDK_DEFAULTS.step.num_workers);
  assert.equal(spec.retry, undefined);
  assert.equal(spec.timeoutMs, undefined);
});

test("the SDK's copy of wit/sdk-defaults.json is up to date", () => {
  const source = fileURLToPath(new URL("../../../wit/sdk-defaults.json", import.meta.url));
  assert.deepEqual(SDK_DEFAULTS, JSON.parse(readFileSync(source, "utf8")), "run python3 scripts/sync-sdk-defaults.py");
});

const writeJoke = step({ accepts: [StartEvent], emits: [Joke] }, async (ctx, ev) => {
  ctx.store.set("topic", ev.topic);
  return new Joke({ text: `a joke about ${ev.topic}` });
});
const critique = step(
  { accepts: [Joke], emits: [StopEvent], numWorkers: 2, retry: RetryPolicy.constant({ maxAttempts: 2, delayMs: 10 }) },
  (ctx, ev) => new StopEvent({ result: `${ev.text}, about ${ctx.store.get("topic")}` }),
);

test("describe lists steps, event types with schemas, and the typed state", () => {
  const wf = new Workflow({
    steps: { writeJoke, critique },
    state: { fields: { topic: "string?" }, defaults: {}, title: "JokeState" },
  });
  const info = wf.describe();
  assert.deepEqual(info.steps, [
    { name: "writeJoke", accepts: ["StartEvent"], emits: ["Joke"], numWorkers: 4, retry: undefined, timeoutMs: undefined },
    {
      name: "critique",
      accepts: ["Joke"],
      emits: ["StopEvent"],
      numWorkers: 2,
      retry: RetryPolicy.constant({ maxAttempts: 2, delayMs: 10 }).toWit(),
      timeoutMs: undefined,
    },
  ]);
  assert.deepEqual(
    info.events.map((e) => [e.name, e.kind]),
    [
      ["StartEvent", "start"],
      ["Joke", "plain"],
      ["StopEvent", "stop"],
    ],
  );
  assert.deepEqual(JSON.parse(info.events[1].schema), schemaOf(Joke));
  assert.deepEqual(JSON.parse(info.state.schema), {
    $schema: DIALECT,
    title: "JokeState",
    type: "object",
    properties: { topic: { type: ["string", "null"] } },
  });
  assert.equal(info.state.defaults, "{}");
  assert.equal(new Workflow({ steps: { writeJoke } }).describe().state, undefined);
  // A plain Workflow has a name only when it is given one, a string.
  assert.equal(new Workflow({ steps: { writeJoke } }).describe().workflow, undefined);
  assert.equal(new Workflow({ name: "JokeFlow", steps: { writeJoke } }).describe().workflow, "JokeFlow");
  assert.throws(() => new Workflow({ name: 1, steps: { writeJoke } }), /name must be a string, got number/);
  // An anonymous default-exported class is named "default" by the language: no name.
  const anonymous = { default: class extends Workflow {} };
  assert.equal(anonymous.default.name, "default");
  assert.equal(new anonymous.default().describe().workflow, undefined);
  assert.throws(() => new Workflow({ state: { fields: { n: "integer" }, defaults: {} } }), /missing field `n`/);
  assert.throws(
    () => new Workflow({ steps: { a: writeJoke, b: step({ accepts: [defineEvent("Joke")] }, () => {}) } }),
    /two different event classes are named Joke/,
  );
  assert.throws(() => new Workflow({ steps: [(ctx, ev) => ev] }), /declare what it accepts/);
  assert.throws(() => new Workflow({ steps: [step({ accepts: [Joke] }, (ctx, ev) => ev)] }), /needs a name/);
});

test("a Workflow subclass declares its methods as steps, as the seed's class", async () => {
  class JokeFlow extends Workflow {
    static steps = {
      writeJoke: { accepts: [StartEvent], emits: [Joke] },
      critique: { accepts: [Joke], emits: [StopEvent], numWorkers: 2 },
    };
    prefix = "Q:";
    async writeJoke(ctx, ev) {
      return new Joke({ text: `${this.prefix} ${ev.topic}` });
    }
    critique(ctx, ev) {
      return new StopEvent({ result: ev.text });
    }
  }
  const extra = step({ accepts: [HumanResponseEvent], emits: [StopEvent] }, function extraStep(ctx, ev) {
    return new StopEvent({ result: ev.response });
  });
  JokeFlow.addStep(extra);
  fakeHost();
  const { describe, handle } = componentExports({ default: JokeFlow });
  assert.deepEqual(
    describe().steps.map((s) => [s.name, s.numWorkers]),
    [
      ["writeJoke", 4],
      ["critique", 2],
      ["extraStep", 4],
    ],
  );
  // The host calls the workflow by its class, as the reference does.
  assert.equal(describe().workflow, "JokeFlow");
  assert.deepEqual(await handle("writeJoke", wire("StartEvent", { topic: "pirates" })), {
    tag: "ok",
    val: [wire("Joke", { text: "Q: pirates" })],
  });
  assert.throws(() => componentExports({ default: 42 }), /must `export default` a Workflow/);
});

test("handle runs a step with a context and returns the events it emits", async () => {
  const host = fakeHost();
  const wf = new Workflow({ steps: { writeJoke, critique } });
  const first = await wf.handle("writeJoke", wire("StartEvent", { topic: "pirates" }));
  assert.deepEqual(first, { tag: "ok", val: [wire("Joke", { text: "a joke about pirates" })] });
  assert.deepEqual(host.state, { topic: "pirates" });
  const second = await wf.handle("critique", first.val[0]);
  assert.deepEqual(second, { tag: "ok", val: [wire("StopEvent", { result: "a joke about pirates, about pirates" })] });
});

test("handle maps failures to the WIT step-error", async () => {
  fakeHost();
  class TransientError extends Error {}
  const steps = {
    boom: step({ accepts: [StartEvent] }, () => {
      throw new TransientError("attempt 1 failed");
    }),
    typeError: step({ accepts: [StartEvent] }, () => null.x),
    custom: step({ accepts: [StartEvent] }, () => {
      throw new StepError("nope");
    }),
    thrownString: step({ accepts: [StartEvent] }, () => {
      throw "plain";
    }),
    joke: step({ accepts: [Joke], emits: [StopEvent] }, (ctx, ev) => new StopEvent({ result: ev.text })),
    undeclared: step({ accepts: [StartEvent], emits: [StopEvent] }, () => new Joke({ text: "x" })),
    notAnEvent: step({ accepts: [StartEvent], emits: [StopEvent] }, () => "done"),
    badEvent: step({ accepts: [StartEvent], emits: [Joke] }, () => new Joke({})),
    context: step({ accepts: [StartEvent] }, (ctx) => ctx.store.get("")),
    missing: step({ accepts: [StartEvent] }, (ctx) => ctx.store.get("nope")),
  };
  const wf = new Workflow({ steps });
  const run = (name, ev = wire("StartEvent", {})) => wf.handle(name, ev);
  assert.deepEqual(await run("boom"), {
    tag: "err",
    val: { tag: "failed", val: { kind: "TransientError", message: "attempt 1 failed" } },
  });
  assert.equal((await run("typeError")).val.val.kind, "TypeError");
  assert.deepEqual((await run("custom")).val, { tag: "failed", val: { kind: "StepError", message: "nope" } });
  assert.deepEqual((await run("thrownString")).val, { tag: "failed", val: { kind: "StepError", message: "plain" } });
  assert.deepEqual((await run("joke", wire("Joke", { text: 3 }))).val, {
    tag: "invalid-event",
    val: "Joke: text should be string, not a number",
  });
  assert.deepEqual((await run("joke", { name: "Joke", data: "{" })).val.tag, "invalid-event");
  assert.deepEqual((await run("joke", wire("Joke", [1]))).val, {
    tag: "invalid-event",
    val: "Joke: the payload must be a JSON object, not an array",
  });
  assert.deepEqual((await run("joke", wire("StartEvent", {}))).val, {
    tag: "invalid-event",
    val: "expected a Joke event, got StartEvent",
  });
  assert.deepEqual((await run("undeclared")).val, {
    tag: "failed",
    val: { kind: "StepError", message: "step undeclared returned a Joke event, which it does not declare in emits" },
  });
  assert.equal((await run("notAnEvent")).val.val.kind, "TypeError");
  assert.match((await run("notAnEvent")).val.val.message, /^step notAnEvent returned a string/);
  assert.deepEqual((await run("badEvent")).val, {
    tag: "failed",
    val: { kind: "ValidationError", message: "Joke: missing field `text`" },
  });
  assert.deepEqual((await run("context")).val, {
    tag: "context",
    val: { tag: "invalid-path", val: "the path is empty" },
  });
  assert.deepEqual((await run("missing")).val, {
    tag: "failed",
    val: { kind: "ValueError", message: "Path 'nope' not found in state" },
  });
  assert.deepEqual((await run("ghost")).val, {
    tag: "failed",
    val: { kind: "WorkflowStepDoesNotExistError", message: "this component has no step `ghost`" },
  });
});

test("the context's calls reach the host with the WIT shapes", async () => {
  class Done extends Event {
    static fields = { value: "integer" };
  }
  const host = fakeHost({
    state: { n: 3, user: { name: "Ada" } },
    collect: (ev, expected) =>
      expected[0].count === 3
        ? [wire("Done", { value: 1 }), wire("Done", { value: 2 }), wire("Done", { value: 3 })]
        : undefined,
    wait: () => wire("HumanResponseEvent", { response: "Ada" }),
    config: { model: "tiny" },
  });
  const seen = {};
  const probe = step(
    { accepts: [Done], emits: [StopEvent, Done], waits: [HumanResponseEvent] },
    async (ctx, ev) => {
      seen.name = ctx.store.get("user.name");
      seen.fallback = ctx.store.get("user.age", 36);
      seen.state = ctx.store.getState();
      ctx.store.setState({ n: 3, count: 0 });
      seen.edited = ctx.store.editState((s) => {
        s.count += 1;
        return s.count;
      });
      seen.editedAsync = await ctx.store.editState(async (s) => {
        s.count += 1;
      });
      assert.throws(() =>
        ctx.store.editState(() => {
          throw new Error("discard me");
        }),
      );
      ctx.sendEvent(new Done({ value: 9 }));
      ctx.sendEvent(new Done({ value: 9 }), "other");
      assert.throws(() => ctx.sendEvent(new Done({ value: 9 }), "ghost"), (err) => err instanceof ContextError && err.kind === "step-does-not-exist");
      ctx.writeEventToStream(new InputRequiredEvent({ prefix: "hi" }));
      seen.none = ctx.collectEvents(ev, [Done, Done]);
      seen.done = ctx.collectEvents(ev, [{ type: Done, count: 3 }], "buf");
      seen.filled = ctx.collectEvents(ev, Array(3).fill(Done));
      const answer = ctx.waitForEvent(HumanResponseEvent, {
        waiterEvent: new InputRequiredEvent({ prefix: "Name? " }),
        waiterId: "name",
        requirements: { user: "ada" },
        timeoutMs: 1000,
      });
      seen.response = answer.response;
      seen.running = ctx.runningSteps();
      seen.config = [ctx.config("model"), ctx.config("other")];
      ctx.store.clear();
      return new StopEvent({ result: "ok" });
    },
  );
  const wf = new Workflow({ steps: { probe } });
  assert.deepEqual(
    wf.describe().events.map((e) => e.name),
    ["Done", "StopEvent", "HumanResponseEvent"],
  );
  const out = await wf.handle("probe", wire("Done", { value: 1 }));
  assert.equal(out.tag, "ok", JSON.stringify(out));
  assert.equal(seen.name, "Ada");
  assert.equal(seen.fallback, 36);
  assert.deepEqual(seen.state, { n: 3, user: { name: "Ada" } });
  assert.equal(seen.edited, 1);
  assert.equal(seen.none, null);
  assert.deepEqual(
    seen.done.map((d) => [d.constructor, d.value]),
    [
      [Done, 1],
      [Done, 2],
      [Done, 3],
    ],
  );
  assert.equal(seen.filled.length, 3);
  assert.equal(seen.response, "Ada");
  assert.deepEqual(seen.running, ["a", "b"]);
  assert.deepEqual(seen.config, ["tiny", undefined]);
  const names = host.calls.map((c) => c[0]);
  assert.deepEqual(
    host.calls.filter((c) => c[0] === "commit" || c[0] === "drop"),
    [["commit", { n: 3, count: 1 }], ["commit", { n: 3, count: 2 }], ["drop"]],
  );
  assert.deepEqual(
    host.calls.filter((c) => c[0] === "sendEvent").map((c) => c[2]),
    [undefined, "other", "ghost"],
  );
  assert.deepEqual(
    host.calls.filter((c) => c[0] === "collectEvents").map((c) => [c[2], c[3]]),
    [
      [[{ name: "Done", count: 2 }], undefined],
      [[{ name: "Done", count: 3 }], "buf"],
      [[{ name: "Done", count: 3 }], undefined],
    ],
  );
  assert.deepEqual(host.calls.find((c) => c[0] === "waitForEvent"), [
    "waitForEvent",
    "HumanResponseEvent",
    wire("InputRequiredEvent", { prefix: "Name? " }),
    "name",
    '{"user":"ada"}',
    1000,
  ]);
  assert.ok(names.includes("clear"));
});

test("a timed-out wait surfaces as a context error", async () => {
  fakeHost();
  const ask = step({ accepts: [StartEvent], emits: [StopEvent] }, (ctx) => {
    const answer = ctx.waitForEvent(HumanResponseEvent, { timeoutMs: 5 });
    return new StopEvent({ result: answer.response });
  });
  const out = await new Workflow({ steps: { ask } }).handle("ask", wire("StartEvent", {}));
  assert.deepEqual(out, {
    tag: "err",
    val: { tag: "context", val: { tag: "timeout", val: "no HumanResponseEvent within 5 ms" } },
  });
});

test("the build lays out the SDK, the guest, a shim per folder and the entry", () => {
  const guest = mkdtempSync(join(tmpdir(), "wflow-js-test-"));
  try {
    writeFileSync(join(guest, "package.json"), JSON.stringify({ main: "src/main.js" }));
    mkdirSync(join(guest, "src", "lib"), { recursive: true });
    mkdirSync(join(guest, "node_modules", "x"), { recursive: true });
    writeFileSync(join(guest, "src", "main.js"), "export default 1;\n");
    writeFileSync(join(guest, "src", "lib", "util.js"), "export const x = 1;\n");
    writeFileSync(join(guest, "old.wasm"), "");
    assert.equal(guestMain(guest), "src/main.js");
    assert.match(entrySource("src/main.js"), /import \* as app from "\.\/app\/src\/main\.js";/);
    assert.match(entrySource("src/main.js"), /import \* as host from "wflow:workflow\/context@0\.1\.0";/);
    const { buildDir, entry } = layout(guest);
    try {
      const read = (p) => readFileSync(join(buildDir, p), "utf8");
      assert.equal(read("app/wflow"), 'export * from "../wflow/index.js";\n');
      assert.equal(read("app/src/wflow"), 'export * from "../../wflow/index.js";\n');
      assert.equal(read("app/src/lib/wflow"), 'export * from "../../../wflow/index.js";\n');
      assert.equal(read("app/src/lib/util.js"), "export const x = 1;\n");
      assert.match(read("wflow/index.js"), /export \{/);
      assert.equal(readFileSync(entry, "utf8"), entrySource("src/main.js"));
      // The build is marked before the guest's modules run.
      assert.equal(read("building.js"), BUILDING_SOURCE);
      assert.match(entrySource("src/main.js"), /^import "\.\/building\.js";\n/);
      assert.throws(() => read("app/node_modules/x"), /ENOENT/);
      assert.throws(() => read("app/old.wasm"), /ENOENT/);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    writeFileSync(join(guest, "package.json"), JSON.stringify({ main: "../escape.js" }));
    assert.throws(() => guestMain(guest), /must be inside/);
    writeFileSync(join(guest, "package.json"), JSON.stringify({}));
    assert.throws(() => guestMain(guest), /app\.js does not exist/);
  } finally {
    rmSync(guest, { recursive: true, force: true });
  }
});

/** A fake host whose collectEvents buffers as the host does. */
function bufferingHost() {
  const host = fakeHost();
  const buffers = new Map();
  host.collectEvents = (ev, expected, bufferId) => {
    const key = bufferId ?? "default";
    const buffer = buffers.get(key) ?? [];
    buffers.set(key, buffer);
    buffer.push(ev);
    const picked = [];
    for (const { name, count } of expected) {
      const of = buffer.filter((e) => e.name === name && !picked.includes(e)).slice(0, count);
      if (of.length < count) return undefined;
      picked.push(...of);
    }
    buffers.set(key, buffer.filter((e) => !picked.includes(e)));
    return picked;
  };
  return host;
}

/** Imports an example's app.js in node, with "wflow" linked to this SDK. */
async function importExample(name) {
  const dir = mkdtempSync(join(tmpdir(), `wflow-js-${name}-`));
  const src = new URL(`../../../examples-guests/${name}/`, import.meta.url);
  for (const file of ["package.json", "app.js"]) {
    writeFileSync(join(dir, file), readFileSync(new URL(file, src)));
  }
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(fileURLToPath(new URL("..", import.meta.url)), join(dir, "node_modules", "wflow"));
  try {
    return await import(pathToFileURL(join(dir, "app.js")).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("examples-guests/joke-js runs start -> joke -> critique -> stop", async () => {
  const app = await importExample("joke-js");
  bufferingHost();
  const { describe, handle } = componentExports(app);
  assert.deepEqual(
    describe().steps.map((s) => [s.name, s.accepts, s.emits, s.numWorkers]),
    [
      ["writeJoke", ["StartEvent"], ["Joke"], 4],
      ["critique", ["Joke"], ["StopEvent"], 2],
    ],
  );
  const joke = await handle("writeJoke", wire("StartEvent", { topic: "pirates" }));
  const stop = await handle("critique", joke.val[0]);
  assert.equal(stop.val[0].name, "StopEvent");
  assert.match(JSON.parse(stop.val[0].data).result, /a fine joke about pirates/);
  assert.deepEqual((await handle("writeJoke", wire("StartEvent", {}))).val.val, {
    kind: "ValueError",
    message: "the start event needs a string `topic`",
  });
});

test("examples-guests/fanout-js sends n items and collects their sum", async () => {
  const app = await importExample("fanout-js");
  const host = bufferingHost();
  const { handle } = componentExports(app);
  const n = 50;
  assert.deepEqual(await handle("fanOut", wire("StartEvent", { n })), { tag: "ok", val: [] });
  const sent = host.calls.filter((c) => c[0] === "sendEvent").map((c) => c[1]);
  assert.equal(sent.length, n);
  let result;
  for (const ev of sent) {
    const done = await handle("work", ev);
    const out = await handle("gather", done.val[0]);
    if (out.val.length > 0) result = JSON.parse(out.val[0].data).result;
  }
  assert.deepEqual(result, { sum: (n * (n - 1)) / 2, count: n });
});

test("while building, a declaration the SDK refuses is reported to the build, once and whole", () => {
  const printed = [];
  const error = console.error;
  console.error = (line) => printed.push(line);
  try {
    // Not building: the error only propagates.
    assert.throws(() => new Workflow({ steps: { go: () => null } }), /declare what it accepts/);
    assert.deepEqual(printed, []);
    globalThis[BUILDING] = true;
    assert.throws(() => new Workflow({ steps: { go: () => null } }), /declare what it accepts/);
    assert.throws(() => step({ accepts: [StartEvent], numWorkers: 0 }, () => null), /numWorkers/);
  } finally {
    delete globalThis[BUILDING];
    console.error = error;
  }
  assert.equal(printed.length, 2);
  assert.ok(printed.every((line) => line.startsWith(BUILD_ERROR_MARK)));
  const first = reportedBuildError(`Failed to initialize component:\n${printed[0]}\nException while evaluating`);
  assert.equal(first.kind, "TypeError");
  assert.equal(first.message, "step go: declare what it accepts and emits with step({ accepts, emits }, fn)");
  assert.equal(reportedBuildError(printed[1]).kind, "TypeError");
  // The last report is the one that stopped the build.
  assert.match(reportedBuildError(printed.join("\n")).message, /numWorkers/);
  // What is not a whole report is not one.
  assert.equal(reportedBuildError("nothing reported"), undefined);
  assert.equal(reportedBuildError(`${BUILD_ERROR_MARK}{"kind": "TypeError"`), undefined);
  assert.equal(reportedBuildError(`${BUILD_ERROR_MARK}{"kind": 1, "message": "x"}`), undefined);
});
