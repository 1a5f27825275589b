// The run's context as a step sees it: the state store, sending and streaming
// events, collecting them, and waiting for one. Every call goes to the host's
// `wflow:workflow/context` interface, bound once by the component's entry
// module (see `bindHost`); host calls are synchronous.

import { Event, eventNameOf, fromWire, toWire } from "./events.js";

let HOST = null;

/**
 * Binds the host's context interface: the namespace of the WIT import
 * `wflow:workflow/context@0.1.0`. The generated component entry does this;
 * in plain node, tests may bind a fake with the same functions.
 */
export function bindHost(host) {
  HOST = host;
}

function host() {
  if (!HOST) {
    throw new Error(
      "the wflow context is only available inside a step run by the wflow host (in plain node, bind a fake with bindHost)",
    );
  }
  return HOST;
}

/** A context call failed (the WIT `context-error`); `kind` is its case. */
export class ContextError extends Error {
  /**
   * @param {string} kind invalid-path, missing-path, schema-violation,
   *   invalid-json, step-does-not-exist, event-not-accepted, timeout,
   *   already-editing or run-ended
   * @param {string} detail what went wrong
   */
  constructor(kind, detail) {
    super(`${kind}: ${detail}`);
    this.kind = kind;
    this.detail = detail;
  }
}
ContextError.prototype.name = "ContextError";

/** A missing state path, as the seed's `ValueError`. */
export class ValueError extends Error {}
ValueError.prototype.name = "ValueError";

function asContextError(err) {
  // componentize-js throws a ComponentError whose `payload` is the variant.
  const payload = err && typeof err === "object" && "payload" in err ? err.payload : err;
  if (payload && typeof payload === "object" && !(payload instanceof Error) && typeof payload.tag === "string") {
    return new ContextError(payload.tag, String(payload.val ?? ""));
  }
  return err;
}

function call(fn) {
  try {
    return fn();
  } catch (err) {
    throw asContextError(err);
  }
}

function toJson(value, what) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${what} cannot be serialized as JSON`);
  return text;
}

const DISPOSE = Symbol.dispose || Symbol.for("dispose");

function discard(edit) {
  const dispose = edit && edit[DISPOSE];
  if (typeof dispose === "function") dispose.call(edit);
}

/**
 * The run's state store: a JSON object shared by all steps and workers, read
 * and written by dot paths (`user.profile.name`, `items.0`) or whole.
 */
export class StateStore {
  /**
   * The value at `path`. Without `fallback`, a missing path throws a
   * ValueError (as the seed's `store.get(path)`); with one, it is returned.
   *
   * @param {string} path
   * @param {any} [fallback]
   */
  get(path, fallback) {
    const text = call(() => host().get(path));
    if (text === undefined || text === null) {
      if (arguments.length >= 2) return fallback;
      throw new ValueError(`Path '${path}' not found in state`);
    }
    return JSON.parse(text);
  }

  /** Writes `value` at `path`, creating intermediate objects. */
  set(path, value) {
    const text = toJson(value, `the value for '${path}'`);
    call(() => host().set(path, text));
  }

  /** The whole state. */
  getState() {
    return JSON.parse(call(() => host().getState()));
  }

  /** Replaces the whole state. */
  setState(state) {
    const text = toJson(state, "the state");
    call(() => host().setState(text));
  }

  /**
   * Edits the state under the state lock: no other worker reads or writes it
   * until `edit` returns, so no update is lost. `edit` gets the state and
   * changes it in place; the new state is committed when `edit` returns (or
   * its promise resolves), discarded when it throws (or rejects). Returns
   * what `edit` returns.
   *
   * @template R
   * @param {(state: any) => R} edit
   * @returns {R}
   */
  editState(edit) {
    const lock = call(() => host().editState());
    let state;
    let out;
    try {
      state = JSON.parse(lock.current());
      out = edit(state);
    } catch (err) {
      discard(lock);
      throw err;
    }
    const commit = () => {
      let text;
      try {
        text = toJson(state, "the state");
      } catch (err) {
        discard(lock);
        throw err;
      }
      call(() => host().StateEdit.commit(lock, text));
    };
    if (out && typeof out.then === "function") {
      return out.then(
        (value) => {
          commit();
          return value;
        },
        (err) => {
          discard(lock);
          throw err;
        },
      );
    }
    commit();
    return out;
  }

  /** Resets the state to the workflow's defaults. */
  clear() {
    call(() => host().clear());
  }
}

function checkEvent(ev, what) {
  if (!(ev instanceof Event)) throw new TypeError(`${what} needs an event, not ${String(ev)}`);
}

/** The run's context, the first argument of every step. */
export class Context {
  /** @param {string} stepName the step being run */
  constructor(stepName) {
    /** The name of the step being run. */
    this.stepName = stepName;
    /** The run's state store. */
    this.store = new StateStore();
  }

  /**
   * Sends an event into the run: to every step accepting its type, or only
   * to `step`. The sending step must declare the type in `emits`.
   *
   * @param {Event} ev
   * @param {string} [step]
   */
  sendEvent(ev, step) {
    checkEvent(ev, "sendEvent");
    const wire = toWire(ev);
    call(() => host().sendEvent(wire, step ?? undefined));
  }

  /** Writes an event to the run's stream, for the caller to see. */
  writeEventToStream(ev) {
    checkEvent(ev, "writeEventToStream");
    const wire = toWire(ev);
    call(() => host().writeEventToStream(wire));
  }

  /**
   * Buffers `ev` until the events listed in `expected` have arrived; then
   * returns them in the order of `expected` (first come first served within
   * a type) and removes them from the buffer. Returns null while some are
   * missing. Each entry of `expected` is an event class, or `{ type, count }`
   * for `count` events of class `type`: `[Query, Retrieve]`,
   * `[{ type: Done, count: n }]` (the seed's `[Done] * n`; `Array(n).fill(Done)`
   * works too, but costs O(n) on every call).
   *
   * @param {Event} ev
   * @param {Array<typeof Event | {type: typeof Event, count: number}>} expected
   * @param {string} [bufferId] a buffer of this step's other than "default"
   * @returns {Event[] | null}
   */
  collectEvents(ev, expected, bufferId) {
    checkEvent(ev, "collectEvents");
    if (!Array.isArray(expected) || expected.length === 0) {
      throw new TypeError("collectEvents needs a non-empty list of event classes");
    }
    // Consecutive entries of one class become one `expected-events` record;
    // classes are compared first, which stays cheap for Array(n).fill(Done).
    const byName = new Map();
    const runs = [];
    let prev;
    for (let i = 0; i < expected.length; i++) {
      let cls = expected[i];
      let count = 1;
      if (cls && typeof cls === "object") {
        count = cls.count;
        cls = cls.type;
        if (!Number.isInteger(count) || count < 0) {
          throw new TypeError(`collectEvents: count must be a whole number, not ${count}`);
        }
      } else if (cls === prev) {
        runs[runs.length - 1].count += 1;
        continue;
      }
      prev = cls;
      const name = eventNameOf(cls);
      byName.set(name, cls);
      const last = runs[runs.length - 1];
      if (last && last.name === name) last.count += count;
      else runs.push({ name, count });
    }
    const wire = toWire(ev);
    const got = call(() => host().collectEvents(wire, runs, bufferId ?? undefined));
    if (got === undefined || got === null) return null;
    return got.map((w) => fromWire(byName.get(w.name) ?? prev, w));
  }

  /**
   * Waits for the next event of class `cls` sent into the run whose fields
   * equal `requirements`. `waiterEvent` (typically an InputRequiredEvent) is
   * streamed once per `waiterId`. A ContextError of kind "timeout" is thrown
   * after `timeoutMs`. Blocks: the host answers synchronously.
   *
   * @template {typeof Event} T
   * @param {T} cls
   * @param {{waiterEvent?: Event, waiterId?: string, requirements?: Record<string, any>, timeoutMs?: number}} [options]
   * @returns {InstanceType<T>}
   */
  waitForEvent(cls, { waiterEvent, waiterId, requirements, timeoutMs } = {}) {
    const name = eventNameOf(cls);
    if (waiterEvent !== undefined && waiterEvent !== null) checkEvent(waiterEvent, "waitForEvent's waiterEvent");
    const waiter = waiterEvent ? toWire(waiterEvent) : undefined;
    const reqs =
      requirements && Object.keys(requirements).length > 0 ? toJson(requirements, "the requirements") : undefined;
    if (timeoutMs !== undefined && timeoutMs !== null && !(Number.isInteger(timeoutMs) && timeoutMs >= 0)) {
      throw new TypeError(`waitForEvent: timeoutMs must be a whole number of milliseconds, not ${timeoutMs}`);
    }
    const wire = call(() =>
      host().waitForEvent(name, waiter, waiterId ?? undefined, reqs, timeoutMs ?? undefined),
    );
    return fromWire(cls, wire);
  }

  /** The names of the steps that have at least one busy worker. */
  runningSteps() {
    return call(() => host().runningSteps());
  }

  /**
   * The configuration value `key` granted to this step by the workflow's
   * manifest, or undefined.
   */
  config(key) {
    return call(() => host().config(key)) ?? undefined;
  }
}
