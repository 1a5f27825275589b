// wflow's JavaScript guest SDK: write workflow steps as ES modules and build
// them into WebAssembly components with `wflow build` (see README.md).
//
//     import { Workflow, step, Event, StartEvent, StopEvent } from "wflow";
//
//     class Joke extends Event { static fields = { text: "string" }; }
//
//     const writeJoke = step({ accepts: [StartEvent], emits: [Joke] }, (ctx, ev) =>
//       new Joke({ text: `a joke about ${ev.topic}` }));
//     const critique = step({ accepts: [Joke], emits: [StopEvent] }, (ctx, ev) =>
//       new StopEvent({ result: ev.text }));
//
//     export default new Workflow({ steps: { writeJoke, critique } });

export {
  Event,
  EventKind,
  StartEvent,
  StopEvent,
  InputRequiredEvent,
  HumanResponseEvent,
  InvalidEventError,
  ValidationError,
  canonicalJson,
  defineEvent,
  jsonSchema,
  schemaOf,
  fieldSchema,
  objectSchema,
  eventNameOf,
  kindOf,
  toWire,
  fromWire,
} from "./events.js";
export { Context, StateStore, ContextError, ValueError, bindHost } from "./context.js";
export {
  Workflow,
  step,
  stepConfig,
  RetryPolicy,
  ConstantDelayRetryPolicy,
  StepError,
  DEFAULT_NUM_WORKERS,
  toStepError,
  componentExports,
  BUILDING,
  BUILD_ERROR_MARK,
} from "./workflow.js";
