// Steps, retry policies and the Workflow: what `describe` declares and how
// `handle` runs a step on an event.

import {
  Event,
  InvalidEventError,
  canonicalJson,
  checkValue,
  eventNameOf,
  fieldsRootSchema,
  fromWire,
  kindOf,
  rootSchema,
  schemaOf,
  toWire,
} from "./events.js";
import { Context, ContextError, bindHost } from "./context.js";
import SDK_DEFAULTS from "./sdk-defaults.js";

// The defaults the three SDKs share (wit/sdk-defaults.json): a step's
// (4 workers, no retry policy, no timeout, as the seed's @step) and a retry
// policy's (the seed's ConstantDelayRetryPolicy(): 3 attempts, 5 s apart).
const STEP_DEFAULTS = SDK_DEFAULTS.step;
const RETRY_DEFAULTS = SDK_DEFAULTS.retry_policy;
const EXPONENTIAL_DEFAULTS = { ...RETRY_DEFAULTS, ...SDK_DEFAULTS.exponential_backoff };

/** How many events a step handles at once unless it says otherwise (as the seed). */
export const DEFAULT_NUM_WORKERS = STEP_DEFAULTS.num_workers;

/**
 * Set on `globalThis` while a guest is built (build.mjs's `building.js` sets
 * it before the guest's modules run; the entry module clears it): a
 * declaration the SDK refuses is then reported to the build.
 */
export const BUILDING = Symbol.for("wflow.building");

/**
 * The line that reports a refused declaration to the build, followed by
 * JSON `{kind, message, file, line}`: the engine building the component has
 * no filesystem, so build.mjs picks the line out of the engine's output.
 */
export const BUILD_ERROR_MARK = "wflow-build-error ";

/** The first frame of `err`'s stack in the guest's own files (`app/...`). */
function guestFrame(err) {
  const stack = typeof err?.stack === "string" ? err.stack : "";
  for (const frame of stack.split("\n")) {
    // SpiderMonkey's frames: `function@file:line:column`.
    const found = /@app\/(.+):(\d+):\d+$/.exec(frame.trim());
    if (found) return { file: found[1], line: Number(found[2]) };
  }
  return undefined;
}

/**
 * Runs `declare` (a step or workflow declaration); while building, an error
 * it throws is reported to the build with the guest's file and line before
 * it propagates.
 */
function declaring(declare) {
  try {
    return declare();
  } catch (err) {
    if (globalThis[BUILDING]) {
      const record = { kind: errorKind(err), message: err instanceof Error ? err.message : String(err) };
      Object.assign(record, guestFrame(err));
      console.error(BUILD_ERROR_MARK + JSON.stringify(record));
    }
    throw err;
  }
}

/** A step failed; `new StepError("why")` reports `StepError: why`. */
export class StepError extends Error {}
StepError.prototype.name = "StepError";

const BACKOFFS = new Set(["constant", "exponential"]);

function wholeNumber(value, what, { min = 0, optional = true } = {}) {
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw new TypeError(`${what} is required`);
  }
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`${what} must be a whole number >= ${min}, not ${value}`);
  }
  return value;
}

/**
 * The options of a RetryPolicy from a WIT `retry-policy` record with
 * snake_case fields (`null` stays `null`: none, not "the default").
 */
function retryOptions(record) {
  return {
    maxAttempts: record.max_attempts,
    maxElapsedMs: record.max_elapsed_ms,
    delayMs: record.delay_ms,
    backoff: record.backoff,
    multiplier: record.multiplier,
    maxDelayMs: record.max_delay_ms,
    jitter: record.jitter,
    retryOn: [...record.retry_on],
    retryOnMessage: [...record.retry_on_message],
  };
}

const DEFAULT = retryOptions(RETRY_DEFAULTS);
const EXPONENTIAL = retryOptions(EXPONENTIAL_DEFAULTS);

/**
 * When and how a failed step is retried; each retry runs on a fresh
 * instance. Build one with `RetryPolicy.constant(...)` or
 * `RetryPolicy.exponential(...)` (or `new ConstantDelayRetryPolicy(...)`, the
 * seed's spelling); a plain object with the same fields works too. A field
 * left out takes the default the three SDKs share: with none given, the
 * seed's ConstantDelayRetryPolicy() (3 attempts, 5 s apart); `null` means
 * none (`maxAttempts: null`: no limit).
 */
export class RetryPolicy {
  /**
   * @param {object} options
   * @param {number} [options.maxAttempts] stop after this many attempts in all (3)
   * @param {number} [options.maxElapsedMs] stop once this long has passed since the first failure
   * @param {number} [options.delayMs] the delay before the first retry (5000)
   * @param {"constant"|"exponential"} [options.backoff] how the delay grows ("constant")
   * @param {number} [options.multiplier] the growth factor of exponential backoff (2 when unset)
   * @param {number} [options.maxDelayMs] the largest delay
   * @param {number} [options.jitter] randomise each delay by up to this fraction of it (0)
   * @param {string[]} [options.retryOn] retry only errors of these kinds (the error's `name`, as `TypeError`)
   * @param {string[]} [options.retryOnMessage] or whose message contains one of these (both empty: every error)
   */
  constructor({
    maxAttempts = DEFAULT.maxAttempts,
    maxElapsedMs = DEFAULT.maxElapsedMs,
    delayMs = DEFAULT.delayMs,
    backoff = DEFAULT.backoff,
    multiplier = DEFAULT.multiplier,
    maxDelayMs = DEFAULT.maxDelayMs,
    jitter = DEFAULT.jitter,
    retryOn = DEFAULT.retryOn,
    retryOnMessage = DEFAULT.retryOnMessage,
    ...unknown
  } = {}) {
    const extra = Object.keys(unknown);
    if (extra.length > 0) {
      throw new TypeError(
        `unknown retry option ${extra.join(", ")}: expected maxAttempts, maxElapsedMs, delayMs, backoff, multiplier, maxDelayMs, jitter, retryOn or retryOnMessage`,
      );
    }
    if (!BACKOFFS.has(backoff)) throw new TypeError(`backoff must be "constant" or "exponential", not ${backoff}`);
    if (multiplier !== undefined && multiplier !== null && !(Number.isFinite(multiplier) && multiplier > 0)) {
      throw new TypeError(`multiplier must be a positive number, not ${multiplier}`);
    }
    if (!(typeof jitter === "number" && jitter >= 0 && jitter <= 1)) {
      throw new TypeError(`jitter must be a fraction between 0 and 1, not ${jitter}`);
    }
    if (!Array.isArray(retryOn) || !retryOn.every((p) => typeof p === "string")) {
      throw new TypeError("retryOn must be a list of strings");
    }
    if (!Array.isArray(retryOnMessage) || !retryOnMessage.every((p) => typeof p === "string")) {
      throw new TypeError("retryOnMessage must be a list of strings");
    }
    this.maxAttempts = wholeNumber(maxAttempts, "maxAttempts", { min: 1 });
    this.maxElapsedMs = wholeNumber(maxElapsedMs, "maxElapsedMs");
    this.delayMs = wholeNumber(delayMs, "delayMs", { optional: false });
    this.backoff = backoff;
    this.multiplier = multiplier ?? undefined;
    this.maxDelayMs = wholeNumber(maxDelayMs, "maxDelayMs");
    this.jitter = jitter;
    this.retryOn = [...retryOn];
    this.retryOnMessage = [...retryOnMessage];
  }

  /**
   * The same delay before every retry: at most `maxAttempts` attempts in all
   * (3), `delayMs` apart (5000), as the seed's ConstantDelayRetryPolicy.
   */
  static constant(options = {}) {
    return new RetryPolicy({ ...options, backoff: "constant" });
  }

  /**
   * Exponential backoff: `delayMs` (1000) before the first retry, times
   * `multiplier` (2) after each, capped by `maxDelayMs`, randomised by
   * `jitter`; `maxAttempts` (3) attempts in all.
   */
  static exponential(options = {}) {
    return new RetryPolicy({ ...EXPONENTIAL, ...options, backoff: "exponential" });
  }

  /** A policy from a (partial) WIT `retry-policy` record with snake_case fields, as in wit/sdk-defaults.json. */
  static fromWit(record) {
    return new RetryPolicy(retryOptions({ ...RETRY_DEFAULTS, ...record }));
  }

  /** The WIT `retry-policy` record. */
  toWit() {
    return {
      maxAttempts: this.maxAttempts,
      maxElapsedMs: this.maxElapsedMs,
      delayMs: this.delayMs,
      backoff: this.backoff,
      multiplier: this.multiplier,
      maxDelayMs: this.maxDelayMs,
      jitter: this.jitter,
      retryOn: this.retryOn,
      retryOnMessage: this.retryOnMessage,
    };
  }
}

/**
 * The seed's ConstantDelayRetryPolicy: `maximumAttempts` attempts (3),
 * `delay` seconds apart (5).
 */
export class ConstantDelayRetryPolicy extends RetryPolicy {
  constructor({ maximumAttempts = DEFAULT.maxAttempts, delay = DEFAULT.delayMs / 1000 } = {}) {
    super({ maxAttempts: maximumAttempts, delayMs: Math.round(delay * 1000), backoff: "constant" });
  }
}

/** A step's retry policy unless it declares one (none). */
const STEP_RETRY = STEP_DEFAULTS.retry_policy === null ? undefined : RetryPolicy.fromWit(STEP_DEFAULTS.retry_policy);

const STEP = Symbol.for("wflow.step");
const STEP_OPTIONS = new Set(["name", "accepts", "emits", "waits", "numWorkers", "retry", "timeoutMs"]);

function eventClasses(value, what, { required = false } = {}) {
  const list = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
  if (required && list.length === 0) throw new TypeError(`${what} must list at least one event class`);
  for (const cls of list) {
    if (typeof cls !== "function" || !(cls === Event || cls.prototype instanceof Event)) {
      throw new TypeError(`${what} must list event classes, and ${String(cls)} is not one`);
    }
  }
  return list;
}

function stepSpec(options, where) {
  if (!options || typeof options !== "object") {
    throw new TypeError(`${where}: step options must be an object such as { accepts: [StartEvent], emits: [StopEvent] }`);
  }
  const unknown = Object.keys(options).filter((key) => !STEP_OPTIONS.has(key));
  if (unknown.length > 0) {
    throw new TypeError(
      `${where}: unknown step option ${unknown.join(", ")}: expected name, accepts, emits, waits, numWorkers, retry or timeoutMs`,
    );
  }
  const retry = options.retry;
  return {
    name: options.name,
    accepts: eventClasses(options.accepts, `${where}: accepts`, { required: true }),
    emits: eventClasses(options.emits, `${where}: emits`),
    waits: eventClasses(options.waits, `${where}: waits`),
    numWorkers: wholeNumber(options.numWorkers ?? DEFAULT_NUM_WORKERS, `${where}: numWorkers`, { min: 1 }),
    retry: retry === undefined || retry === null ? STEP_RETRY : retry instanceof RetryPolicy ? retry : new RetryPolicy(retry),
    timeoutMs: wholeNumber(options.timeoutMs ?? STEP_DEFAULTS.timeout_ms, `${where}: timeoutMs`),
  };
}

/**
 * Declares a step: `step({ accepts: [StartEvent], emits: [Joke] }, async (ctx, ev) => ...)`,
 * or curried, `step(options)(fn)`. The function gets the run's Context and
 * the event, and returns an event, a list of events, or nothing (null or
 * undefined); it may be async. Returns `fn` itself, marked as a step.
 *
 * Options: `accepts` (event classes, required), `emits` (the classes it
 * returns or sends with ctx.sendEvent), `waits` (classes it awaits with
 * ctx.waitForEvent, so the host knows their schema), `numWorkers` (4),
 * `retry` (a RetryPolicy), `timeoutMs`, `name` (default: the key it is
 * listed under in a Workflow's steps, else the function's name).
 *
 * @template {Function} F
 * @param {object} options
 * @param {F} [fn]
 * @returns {F}
 */
export function step(options, fn) {
  const spec = declaring(() => stepSpec(options, options && options.name ? `step ${options.name}` : "step"));
  const mark = (f) => {
    if (typeof f !== "function") {
      declaring(() => {
        throw new TypeError("step(options, fn): fn must be a function (ctx, ev) => ...");
      });
    }
    let target = f;
    if (f[STEP]) {
      // Already a step: declare this one on a wrapper, keeping `this`.
      target = function (...args) {
        return f.apply(this, args);
      };
      Object.defineProperty(target, "name", { value: f.name });
    }
    Object.defineProperty(target, STEP, { value: spec });
    return target;
  };
  return fn === undefined ? mark : mark(fn);
}

/** The step declaration attached to `fn` by `step`, if any. */
export function stepConfig(fn) {
  return (typeof fn === "function" && fn[STEP]) || undefined;
}

function normalizeState(state) {
  if (state === undefined || state === null) return undefined;
  if (typeof state !== "object") throw new TypeError("state must be { fields, defaults } or { schema, defaults }");
  const { fields, schema, defaults = {}, title = "State", description } = state;
  const full = schema
    ? rootSchema(title, description, (({ $schema, title: _t, description: _d, ...rest }) => rest)(schema))
    : fieldsRootSchema(title, description, fields || {});
  const problems = checkValue(full, defaults);
  if (problems.length > 0) {
    throw new TypeError(`the state's defaults do not fit its schema: ${problems.join("; ")}`);
  }
  return { schema: full, defaults };
}

function errorKind(err) {
  const own = err.name;
  if (own && own !== "Error") return own;
  const ctorName = err.constructor && err.constructor !== Error ? err.constructor.name : "";
  return ctorName || "Error";
}

/** The WIT `step-error` for a thrown value. */
export function toStepError(err) {
  if (err instanceof InvalidEventError) return { tag: "invalid-event", val: err.message };
  if (err instanceof ContextError) return { tag: "context", val: { tag: err.kind, val: err.detail } };
  if (err instanceof Error) return { tag: "failed", val: { kind: errorKind(err), message: err.message } };
  return { tag: "failed", val: { kind: "StepError", message: String(err) } };
}

/**
 * A workflow: a set of steps. Either pass them in,
 * `new Workflow({ steps: { writeJoke, critique }, state })`, or subclass it
 * as in the seed, with methods declared by a static table:
 *
 *     class JokeFlow extends Workflow {
 *       static steps = { writeJoke: { accepts: [StartEvent], emits: [Joke] } };
 *       async writeJoke(ctx, ev) { ... }
 *     }
 *
 * `steps` is an object (keys are step names) or a list of `step(...)`
 * functions (named by their `name` option or function name). `state`
 * declares a typed state: `{ fields: { count: "integer" }, defaults: { count: 0 } }`
 * (or `{ schema, defaults }`), checked by the host on every write.
 */
export class Workflow {
  /**
   * `name` is what the host's validation messages call the workflow; a
   * subclass is called by its class name unless it gives one.
   *
   * @param {{name?: string, steps?: object | Function[], state?: {fields?: object, schema?: object, defaults?: object, title?: string, description?: string}}} [options]
   */
  constructor({ name, steps, state } = {}) {
    /** @type {Map<string, {name: string, fn: Function, spec: any}>} */
    this._steps = new Map();
    const cls = /** @type {typeof Workflow} */ (this.constructor);
    declaring(() => {
      if (name !== undefined && typeof name !== "string") {
        throw new TypeError(`the workflow's name must be a string, got ${typeof name}`);
      }
      if (cls.steps) this._addTable(cls.steps, true);
      for (const fn of cls._addedSteps || []) this._addTable([fn], false);
      if (steps) this._addTable(steps, false);
      this._state = normalizeState(state ?? cls.state);
      // An anonymous `export default class extends Workflow` is named
      // "default" by the language: that is no name.
      const className = cls !== Workflow && cls.name !== "default" ? cls.name : "";
      this._name = name ?? (className || undefined);
      this._info = this._describe();
    });
  }

  /** Adds a `step(...)` function to every instance of this class (the seed's `add_step`). */
  static addStep(fn) {
    if (!stepConfig(fn)) throw new TypeError("addStep takes a function declared with step(options, fn)");
    if (!Object.hasOwn(this, "_addedSteps")) this._addedSteps = [...(this._addedSteps || [])];
    this._addedSteps.push(fn);
    return fn;
  }

  _addTable(table, methods) {
    const entries = Array.isArray(table) ? table.map((fn) => [undefined, fn]) : Object.entries(table);
    for (const [key, value] of entries) {
      let spec = stepConfig(value);
      let fn = value;
      if (!spec) {
        if (typeof value === "function") {
          throw new TypeError(
            `step ${key ?? value.name ?? "?"}: declare what it accepts and emits with step({ accepts, emits }, fn)`,
          );
        }
        if (!methods || key === undefined || typeof this[key] !== "function") {
          throw new TypeError(
            `step ${key ?? "?"}: expected a step(...) function${methods ? ` or options for the method ${key}` : ""}`,
          );
        }
        spec = stepSpec(value, `step ${key}`);
        fn = this[key];
      }
      const name = spec.name ?? key ?? (fn.name || undefined);
      if (!name) throw new TypeError("a step needs a name: give it a `name` option or a named function");
      if (this._steps.has(name)) {
        throw new TypeError(`A step ${name} is already part of this workflow, please choose another name.`);
      }
      this._steps.set(name, {
        name,
        fn,
        spec,
        accepts: new Map(spec.accepts.map((c) => [eventNameOf(c), c])),
        emits: new Set(spec.emits.map(eventNameOf)),
      });
    }
  }

  _describe() {
    const events = new Map();
    const register = (cls) => {
      const name = eventNameOf(cls);
      const known = events.get(name);
      if (known && known !== cls) {
        throw new TypeError(`two different event classes are named ${name}; event names must be unique`);
      }
      events.set(name, cls);
    };
    const steps = [];
    for (const { name, spec } of this._steps.values()) {
      spec.accepts.forEach(register);
      spec.emits.forEach(register);
      spec.waits.forEach(register);
      steps.push({
        name,
        accepts: spec.accepts.map(eventNameOf),
        emits: [...new Set(spec.emits.map(eventNameOf))],
        numWorkers: spec.numWorkers,
        retry: spec.retry ? spec.retry.toWit() : undefined,
        timeoutMs: spec.timeoutMs,
      });
    }
    return {
      steps,
      events: [...events.values()].map((cls) => ({
        name: eventNameOf(cls),
        kind: kindOf(cls),
        schema: canonicalJson(schemaOf(cls)),
      })),
      state: this._state
        ? { schema: canonicalJson(this._state.schema), defaults: canonicalJson(this._state.defaults) }
        : undefined,
      workflow: this._name,
    };
  }

  /** The WIT `component-info`: steps, event types with schemas, typed state, the workflow's name. */
  describe() {
    return this._info;
  }

  /**
   * Runs step `stepName` on the WIT event `{name, data}`; resolves to the
   * WIT result `{tag: "ok", val: events}` or `{tag: "err", val: stepError}`.
   */
  async handle(stepName, wire) {
    const entry = this._steps.get(stepName);
    if (!entry) {
      return {
        tag: "err",
        val: {
          tag: "failed",
          val: { kind: "WorkflowStepDoesNotExistError", message: `this component has no step \`${stepName}\`` },
        },
      };
    }
    try {
      const cls = entry.accepts.get(wire.name);
      if (!cls) {
        throw new InvalidEventError(`expected a ${[...entry.accepts.keys()].join(" or ")} event, got ${wire.name}`);
      }
      const ev = fromWire(cls, wire);
      let out = entry.fn.call(this, new Context(stepName), ev);
      if (out && typeof out.then === "function") out = await out;
      return { tag: "ok", val: this._outputs(entry, out).map(toWire) };
    } catch (err) {
      return { tag: "err", val: toStepError(err) };
    }
  }

  _outputs(entry, out) {
    const list = out === undefined || out === null ? [] : Array.isArray(out) ? out : [out];
    const events = [];
    for (const ev of list) {
      if (ev === undefined || ev === null) continue;
      if (!(ev instanceof Event)) {
        throw new TypeError(
          `step ${entry.name} returned ${typeof ev === "object" ? "an object" : `a ${typeof ev}`}; return an event, a list of events, or nothing`,
        );
      }
      const name = eventNameOf(ev.constructor);
      if (!entry.emits.has(name)) {
        throw new StepError(`step ${entry.name} returned a ${name} event, which it does not declare in emits`);
      }
      events.push(ev);
    }
    return events;
  }
}

/**
 * The component's exports for the guest's main module `app` (its module
 * namespace): binds the host's context interface, then finds the workflow —
 * the default export (a Workflow, or a subclass of Workflow, which is
 * instantiated) or an export named `workflow`. A module that exports its own
 * `describe` and `handle` functions is used as it is.
 */
export function componentExports(app, host) {
  if (host) bindHost(host);
  if (typeof app.describe === "function" && typeof app.handle === "function") {
    return { describe: app.describe, handle: app.handle };
  }
  let wf = app.default ?? app.workflow;
  if (typeof wf === "function" && (wf === Workflow || wf.prototype instanceof Workflow)) wf = new wf();
  if (!(wf instanceof Workflow)) {
    declaring(() => {
      throw new TypeError(
        "the guest's main module must `export default` a Workflow (an instance, or a subclass of Workflow)",
      );
    });
  }
  return { describe: () => wf.describe(), handle: (step, ev) => wf.handle(step, ev) };
}
