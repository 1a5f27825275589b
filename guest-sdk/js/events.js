// Event types: the `Event` base class, `defineEvent`, the built-in events and
// the JSON Schema derived from a payload's field spec.

/** The JSON Schema dialect every schema declares (as the Rust SDK's). */
export const SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** The roles an event type can play (the WIT `event-kind`). */
export const EventKind = Object.freeze({
  PLAIN: "plain",
  START: "start",
  STOP: "stop",
  INPUT_REQUIRED: "input-required",
  HUMAN_RESPONSE: "human-response",
});

const KINDS = new Set(Object.values(EventKind));

/** A payload that does not fit its event type's schema. */
export class ValidationError extends Error {}
ValidationError.prototype.name = "ValidationError";

const RAW = Symbol("wflow.rawSchema");

/**
 * Marks `schema` as a raw JSON Schema for one field (instead of the short
 * field spec), e.g. `{ score: jsonSchema({ type: "integer", minimum: 0 }) }`.
 *
 * @param {object} schema a JSON Schema
 * @param {{optional?: boolean}} [options] optional: the field may be absent
 */
export function jsonSchema(schema, { optional = false } = {}) {
  return { [RAW]: schema, optional };
}

const SIMPLE = {
  string: { type: "string" },
  number: { type: "number" },
  integer: { type: "integer" },
  boolean: { type: "boolean" },
  object: { type: "object" },
  array: { type: "array" },
  null: { type: "null" },
  any: {},
};

const CONSTRUCTORS = new Map([
  [String, "string"],
  [Number, "number"],
  [Boolean, "boolean"],
  [Object, "object"],
  [Array, "array"],
]);

function isPlainObject(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isEventClass(value) {
  return typeof value === "function" && (value === Event || value.prototype instanceof Event);
}

/**
 * The JSON Schema of one field spec, and whether the field is optional.
 * Specs: a type name ("string", "number", "integer", "boolean", "object",
 * "array", "null", "any"; a trailing "?" makes the field optional and
 * nullable), a constructor (String, Number, Boolean, Object, Array), a
 * one-element array `[spec]` (a list of spec), a plain object (a nested
 * object of fields), an event class (its payload), or `jsonSchema({...})`.
 *
 * @returns {{schema: object, optional: boolean}}
 */
export function fieldSchema(spec, where = "field") {
  if (typeof spec === "string") {
    const optional = spec.endsWith("?");
    const name = optional ? spec.slice(0, -1) : spec;
    const base = SIMPLE[name];
    if (!base) {
      throw new TypeError(
        `${where}: unknown type "${spec}" (expected string, number, integer, boolean, object, array, null or any, optionally followed by ?)`,
      );
    }
    if (!optional || name === "any" || name === "null") return { schema: { ...base }, optional };
    return { schema: { type: [base.type, "null"] }, optional };
  }
  if (CONSTRUCTORS.has(spec)) return fieldSchema(CONSTRUCTORS.get(spec), where);
  if (isEventClass(spec)) {
    const { $schema, title, description, ...rest } = schemaOf(spec);
    return { schema: rest, optional: false };
  }
  if (Array.isArray(spec)) {
    if (spec.length !== 1) throw new TypeError(`${where}: a list spec holds exactly one item spec, as in ["string"]`);
    return { schema: { type: "array", items: fieldSchema(spec[0], `${where}[]`).schema }, optional: false };
  }
  if (spec && typeof spec === "object" && RAW in spec) return { schema: spec[RAW], optional: spec.optional };
  if (isPlainObject(spec)) return { schema: objectSchema(spec, where), optional: false };
  throw new TypeError(`${where}: cannot derive a JSON Schema from ${String(spec)}`);
}

/** The JSON Schema of an object whose fields are described by `fields`. */
export function objectSchema(fields, where = "object") {
  const schema = { type: "object" };
  const properties = {};
  const required = [];
  for (const [key, spec] of Object.entries(fields)) {
    const field = fieldSchema(spec, `${where}.${key}`);
    properties[key] = field.schema;
    if (!field.optional) required.push(key);
  }
  if (Object.keys(properties).length > 0) schema.properties = properties;
  if (required.length > 0) schema.required = required;
  return schema;
}

/** A root schema: the dialect, a title and description, then the body. */
export function rootSchema(title, description, body) {
  const schema = { $schema: SCHEMA_DIALECT, title };
  if (description) schema.description = description;
  return { ...schema, ...body };
}

/**
 * The JSON Schema (an object) of event class `cls`'s payload: its own static
 * `schema` if it has one, else derived from its own static `fields`, else its
 * parent's, retitled.
 */
export function schemaOf(cls) {
  if (!isEventClass(cls)) throw new TypeError(`${String(cls)} is not an event class`);
  const name = eventNameOf(cls);
  const description = Object.hasOwn(cls, "description") ? cls.description : undefined;
  if (Object.hasOwn(cls, "schema") && cls.schema) {
    return rootSchema(name, description, stripRoot(cls.schema));
  }
  if (Object.hasOwn(cls, "fields") || cls === Event) {
    return rootSchema(name, description, objectSchema(cls.fields || {}, name));
  }
  const parent = stripRoot(schemaOf(Object.getPrototypeOf(cls)));
  return rootSchema(name, description, parent);
}

function stripRoot(schema) {
  const { $schema, title, description, ...rest } = schema;
  return rest;
}

/** The name of event class `cls`: its static `eventName`, else the class name. */
export function eventNameOf(cls) {
  if (!isEventClass(cls)) throw new TypeError(`${String(cls && cls.name ? cls.name : cls)} is not an event class`);
  const name = Object.hasOwn(cls, "eventName") && cls.eventName ? cls.eventName : cls.name;
  if (!name) throw new TypeError("an event class needs a name (use a named class or defineEvent(name, ...))");
  return name;
}

/** The kind of event class `cls` (inherited: a StopEvent subclass is a stop event). */
export function kindOf(cls) {
  const kind = cls.kind || EventKind.PLAIN;
  if (!KINDS.has(kind)) throw new TypeError(`${eventNameOf(cls)}: unknown event kind "${kind}"`);
  return kind;
}

function typeMatches(type, value) {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
    case "array":
      return Array.isArray(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    default:
      return true;
  }
}

function describeValue(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/**
 * Checks `value` against the subset of JSON Schema the SDK derives (`type`,
 * `properties`, `required`, `items`, `enum`); other keywords are left to the
 * host. Returns the problems found (empty when none).
 */
export function checkValue(schema, value, at = "") {
  const problems = [];
  if (!schema || typeof schema !== "object") return problems;
  const where = at || "the payload";
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(t, value))) {
      problems.push(`${where} should be ${types.join(" or ")}, not ${describeValue(value)}`);
      return problems;
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((v) => JSON.stringify(v) === JSON.stringify(value))) {
    problems.push(`${where} should be one of ${JSON.stringify(schema.enum)}`);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const key of schema.required || []) {
      if (!(key in value) || value[key] === undefined) problems.push(`missing field \`${at ? `${at}.` : ""}${key}\``);
    }
    for (const [key, sub] of Object.entries(schema.properties || {})) {
      if (value[key] !== undefined) problems.push(...checkValue(sub, value[key], at ? `${at}.${key}` : key));
    }
  }
  if (Array.isArray(value) && schema.items && typeof schema.items === "object") {
    value.forEach((item, i) => problems.push(...checkValue(schema.items, item, `${at || ""}[${i}]`)));
  }
  return problems;
}

const SCHEMAS = new WeakMap();

function cachedSchema(cls) {
  let schema = SCHEMAS.get(cls);
  if (!schema) {
    schema = schemaOf(cls);
    SCHEMAS.set(cls, schema);
  }
  return schema;
}

/**
 * The base class of all events. A subclass declares its payload with a
 * static `fields` spec (or a static `schema`, a full JSON Schema), and may
 * set `static eventName` (default: the class name) and `static description`.
 * Instances carry the payload's fields as own properties:
 * `new Joke({ text: "..." }).text`.
 */
export class Event {
  /** @type {string} the role of the type; subclasses of the built-ins inherit theirs */
  static kind = EventKind.PLAIN;
  /** @type {Record<string, any>} the payload's fields (see `fieldSchema`) */
  static fields = {};

  /** @param {Record<string, any>} [data] the payload's fields */
  constructor(data = {}) {
    if (!isPlainObject(data) && !(data instanceof Event)) {
      throw new TypeError(`${eventNameOf(new.target)} takes an object of fields, not ${describeValue(data)}`);
    }
    Object.assign(this, data);
    const problems = checkValue(cachedSchema(new.target), this.toJSON());
    if (problems.length > 0) {
      throw new ValidationError(`${eventNameOf(new.target)}: ${problems.join("; ")}`);
    }
  }

  /** The field `key`, or `fallback` when the payload has no such field. */
  get(key, fallback = undefined) {
    return Object.hasOwn(this, key) && this[key] !== undefined ? this[key] : fallback;
  }

  /** The payload: the event's own fields. */
  toJSON() {
    const out = {};
    for (const [key, value] of Object.entries(this)) {
      if (value !== undefined) out[key] = value;
    }
    return out;
  }

  /** The event type's name. */
  static get typeName() {
    return eventNameOf(this);
  }

  /** The JSON Schema of the payload. */
  static jsonSchema() {
    return cachedSchema(this);
  }
}

/**
 * Defines an event class at run time: `const Joke = defineEvent("Joke",
 * { text: "string" })`. `options.base` picks the parent (StopEvent for a
 * custom stop event, and so on); `options.description` documents the type.
 *
 * @param {string} name
 * @param {Record<string, any>} [fields]
 * @param {{base?: typeof Event, description?: string}} [options]
 * @returns {typeof Event}
 */
export function defineEvent(name, fields = {}, { base = Event, description } = {}) {
  if (typeof name !== "string" || !name) throw new TypeError("defineEvent needs a name");
  if (!isEventClass(base)) throw new TypeError(`defineEvent("${name}"): base must be an event class`);
  const cls = class extends base {};
  Object.defineProperty(cls, "name", { value: name });
  cls.eventName = name;
  cls.fields = fields;
  if (description) cls.description = description;
  return cls;
}

/** The event a run starts with: a dict of whatever the caller passed. */
export class StartEvent extends Event {
  static kind = EventKind.START;
  static description =
    "The event a run starts with: a dict of whatever the caller passed\n(`wflow run --input '{\"topic\": \"pirates\"}'`).";
  static schema = { type: "object", additionalProperties: true };
}

/** The event that ends a run; `result` is the run's result. */
export class StopEvent extends Event {
  static kind = EventKind.STOP;
  static description = "The event that ends a run; `result` is the run's result.";
  static schema = {
    type: "object",
    properties: { result: { default: null, description: "The run's result: any JSON value." } },
  };

  toJSON() {
    const out = super.toJSON();
    if (this.constructor === StopEvent && !("result" in out)) {
      out.result = null;
    }
    return out;
  }
}

/**
 * Asks a human for input: streamed to the caller, who answers with a
 * HumanResponseEvent. Dict-like; `prefix` is the prompt by convention.
 */
export class InputRequiredEvent extends Event {
  static kind = EventKind.INPUT_REQUIRED;
  static description =
    "Asks a human for input: streamed to the caller, who answers with a\n[`HumanResponseEvent`]. Dict-like; `prefix` is the prompt by convention.";
  static schema = { type: "object", additionalProperties: true };
}

/** A human's answer to an InputRequiredEvent. Dict-like; `response` is the answer. */
export class HumanResponseEvent extends Event {
  static kind = EventKind.HUMAN_RESPONSE;
  static description =
    "A human's answer to an [`InputRequiredEvent`]. Dict-like; `response` is\nthe answer by convention.";
  static schema = { type: "object", additionalProperties: true };
}

/** The WIT form of an event: its type name and its JSON payload as text. */
export function toWire(ev) {
  if (!(ev instanceof Event)) {
    throw new TypeError(`expected an event (an instance of an Event class), got ${describeValue(ev)}`);
  }
  return { name: eventNameOf(ev.constructor), data: JSON.stringify(ev) };
}

/** A payload that could not be decoded: becomes `step-error.invalid-event`. */
export class InvalidEventError extends Error {}
InvalidEventError.prototype.name = "InvalidEventError";

/** Decodes a WIT event `{name, data}` as an instance of `cls`. */
export function fromWire(cls, wire) {
  const name = eventNameOf(cls);
  if (wire.name !== name) {
    throw new InvalidEventError(`expected a ${name} event, got ${wire.name}`);
  }
  let data;
  try {
    data = JSON.parse(wire.data);
  } catch (err) {
    throw new InvalidEventError(`${name}: the payload is not JSON: ${err.message}`);
  }
  if (!isPlainObject(data)) {
    throw new InvalidEventError(`${name}: the payload must be a JSON object, not ${describeValue(data)}`);
  }
  try {
    return new cls(data);
  } catch (err) {
    if (err instanceof ValidationError) throw new InvalidEventError(err.message);
    throw err;
  }
}
