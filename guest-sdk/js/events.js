// Event types: the `Event` base class, `defineEvent`, the built-in events and
// the JSON Schema derived from a payload's field spec. The built-in events'
// kinds and schemas come from wit/sdk-defaults.json (through its generated
// copy sdk-defaults.js), shared with the Rust and Python SDKs.

import SDK_DEFAULTS from "./sdk-defaults.js";

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
 * With `defs` (an object collecting a root schema's `$defs`), an event
 * class becomes `{"$ref": "#/$defs/<name>"}` and its schema an entry of
 * `defs`, as the Rust and Python SDKs write nested types; without, its
 * schema is inlined.
 *
 * @param {any} spec
 * @param {string} [where] the field, for error messages
 * @param {Record<string, object>} [defs]
 * @returns {{schema: object, optional: boolean}}
 */
export function fieldSchema(spec, where = "field", defs = undefined) {
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
  if (CONSTRUCTORS.has(spec)) return fieldSchema(CONSTRUCTORS.get(spec), where, defs);
  if (isEventClass(spec)) {
    const { $schema, title, description, $defs, ...rest } = schemaOf(spec);
    if (!defs) return { schema: rest, optional: false };
    const name = eventNameOf(spec);
    if (!Object.hasOwn(defs, name)) {
      // Entries have no title (as schemars writes them); nested ones are hoisted.
      defs[name] = description ? { description, ...rest } : rest;
      Object.assign(defs, $defs);
    }
    return { schema: { $ref: `#/$defs/${name}` }, optional: false };
  }
  if (Array.isArray(spec)) {
    if (spec.length !== 1) throw new TypeError(`${where}: a list spec holds exactly one item spec, as in ["string"]`);
    return { schema: { type: "array", items: fieldSchema(spec[0], `${where}[]`, defs).schema }, optional: false };
  }
  if (spec && typeof spec === "object" && RAW in spec) return { schema: spec[RAW], optional: spec.optional };
  if (isPlainObject(spec)) return { schema: objectSchema(spec, where, defs), optional: false };
  throw new TypeError(`${where}: cannot derive a JSON Schema from ${String(spec)}`);
}

/**
 * The JSON Schema of an object whose fields are described by `fields`
 * (`defs`: see `fieldSchema`).
 */
export function objectSchema(fields, where = "object", defs = undefined) {
  const schema = { type: "object" };
  const properties = {};
  const required = [];
  for (const [key, spec] of Object.entries(fields)) {
    const field = fieldSchema(spec, `${where}.${key}`, defs);
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
 * The root schema of an object of `fields`: nested event classes go to its
 * `$defs` (see `fieldSchema`).
 */
export function fieldsRootSchema(title, description, fields) {
  const defs = {};
  const schema = rootSchema(title, description, objectSchema(fields, title, defs));
  if (Object.keys(defs).length > 0) schema.$defs = defs;
  return schema;
}

/**
 * The JSON Schema (an object) of event class `cls`'s payload: the one
 * wit/sdk-defaults.json gives a built-in event, else its own static
 * `schema` if it has one, else derived from its own static `fields`, else
 * its parent's, retitled.
 */
export function schemaOf(cls) {
  if (!isEventClass(cls)) throw new TypeError(`${String(cls)} is not an event class`);
  if (Object.hasOwn(cls, BUILTIN_SCHEMA)) return JSON.parse(JSON.stringify(cls[BUILTIN_SCHEMA]));
  const name = eventNameOf(cls);
  const description = Object.hasOwn(cls, "description") ? cls.description : undefined;
  if (Object.hasOwn(cls, "schema") && cls.schema) {
    return rootSchema(name, description, stripRoot(cls.schema));
  }
  if (Object.hasOwn(cls, "fields") || cls === Event) {
    return fieldsRootSchema(name, description, cls.fields || {});
  }
  const parent = stripRoot(schemaOf(Object.getPrototypeOf(cls)));
  return rootSchema(name, description, parent);
}

/**
 * `value` as canonical JSON text: compact, object keys sorted, `undefined`
 * members left out. The three SDKs publish schemas and state defaults in
 * this form, so one type declared in Rust, Python and JavaScript publishes
 * the same text. (JSON.stringify alone keeps insertion order and puts
 * integer-like keys first. Keys are sorted by UTF-16 code units, which is
 * the others' code-point order unless a key holds characters beyond U+FFFF.)
 */
export function canonicalJson(value) {
  if (value !== null && typeof value === "object" && typeof value.toJSON === "function") {
    return canonicalJson(value.toJSON());
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined || typeof item === "function" ? "null" : canonicalJson(item))).join(",")}]`;
  }
  if (value !== null && typeof value === "object") {
    const members = Object.keys(value)
      .filter((key) => value[key] !== undefined && typeof value[key] !== "function")
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
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
 * `properties`, `required`, `items`, `enum`, and `$ref` to an entry of the
 * root's `$defs`); other keywords are left to the host. Returns the problems
 * found (empty when none).
 *
 * @param {object} schema
 * @param {any} value
 * @param {string} [at] where `value` is, for the messages
 * @param {object} [root] the root schema, whose `$defs` a `$ref` names
 */
export function checkValue(schema, value, at = "", root = schema) {
  const problems = [];
  if (!schema || typeof schema !== "object") return problems;
  const ref = typeof schema.$ref === "string" && schema.$ref.match(/^#\/\$defs\/(.+)$/);
  if (ref && root && root.$defs && Object.hasOwn(root.$defs, ref[1])) {
    return checkValue(root.$defs[ref[1]], value, at, root);
  }
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
      if (value[key] !== undefined) problems.push(...checkValue(sub, value[key], at ? `${at}.${key}` : key, root));
    }
  }
  if (Array.isArray(value) && schema.items && typeof schema.items === "object") {
    value.forEach((item, i) => problems.push(...checkValue(schema.items, item, `${at || ""}[${i}]`, root)));
  }
  return problems;
}

/** Where a built-in event class keeps the schema wit/sdk-defaults.json gives it. */
const BUILTIN_SCHEMA = Symbol("wflow.builtinSchema");

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
export class StartEvent extends Event {}

/** The event that ends a run; `result` is the run's result. */
export class StopEvent extends Event {
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
export class InputRequiredEvent extends Event {}

/** A human's answer to an InputRequiredEvent. Dict-like; `response` is the answer. */
export class HumanResponseEvent extends Event {}

/**
 * Gives each built-in class the kind and schema wit/sdk-defaults.json lists
 * for it (its `static kind`, and the schema `schemaOf` returns; subclasses
 * inherit the kind and, unless they declare fields, the schema, retitled).
 */
function bindBuiltins(classes) {
  const listed = new Map(SDK_DEFAULTS.events.map((entry) => [entry.name, entry]));
  const defined = classes.map((cls) => cls.name);
  if ([...listed.keys()].sort().join() !== [...defined].sort().join()) {
    throw new Error(
      `wit/sdk-defaults.json lists the built-in events ${[...listed.keys()].join(", ")}, the JS SDK defines ${defined.join(", ")}`,
    );
  }
  for (const cls of classes) {
    const { kind, schema } = listed.get(cls.name);
    if (!KINDS.has(kind)) throw new Error(`wit/sdk-defaults.json: unknown kind "${kind}" of ${cls.name}`);
    const { title, description, $schema, ...body } = schema;
    Object.defineProperties(cls, {
      kind: { value: kind, writable: false, enumerable: true },
      description: { value: description, writable: false, enumerable: true },
      schema: { value: body, writable: false, enumerable: true },
      [BUILTIN_SCHEMA]: { value: schema },
    });
  }
}

bindBuiltins([StartEvent, StopEvent, InputRequiredEvent, HumanResponseEvent]);

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
