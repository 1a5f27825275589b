"""Generated from wit/sdk-defaults.json by scripts/sync-sdk-defaults.py: do not edit."""

import json

#: The SDK defaults and built-in event types (see wit/sdk-defaults.json).
SDK_DEFAULTS = json.loads(r"""
{
  "$comment": [
    "What the three guest SDKs (Rust guest-sdk/, Python guest-sdk/python/, JavaScript guest-sdk/js/) share beyond workflow.wit: the defaults of a step and of a retry policy, and the built-in event types with their JSON Schemas.",
    "This file is the one source of truth. The Rust SDK reads it at compile time (include_str!); the Python and JavaScript SDKs read generated copies (guest-sdk/python/wflow/_sdk_defaults.py, guest-sdk/js/sdk-defaults.js): after editing it, run `python3 scripts/sync-sdk-defaults.py`.",
    "tests/sdk_agreement.rs checks the copies and builds one workflow in the three languages, whose `describe` outputs must be identical.",
    "step: what a step declares unless it says otherwise (as the seed's @step: 4 workers, no retry policy, no timeout). retry_policy: every field of a retry policy (the WIT record retry-policy) that the policy does not set, i.e. the seed's ConstantDelayRetryPolicy() (3 attempts, 5 s apart). exponential_backoff: what an exponential policy changes on top of retry_policy.",
    "events: the built-in event types, each with its kind (the WIT event-kind) and the JSON Schema (draft 2020-12) every SDK publishes for it.",
    "Every SDK publishes JSON (event schemas, the state's schema and defaults) as canonical text: compact, object keys sorted, non-ASCII characters as they are, so one type declared in two languages gives the same text."
  ],
  "step": {
    "num_workers": 4,
    "retry_policy": null,
    "timeout_ms": null
  },
  "retry_policy": {
    "max_attempts": 3,
    "max_elapsed_ms": null,
    "delay_ms": 5000,
    "backoff": "constant",
    "multiplier": null,
    "max_delay_ms": null,
    "jitter": 0.0,
    "retry_on": [],
    "retry_on_message": []
  },
  "exponential_backoff": {
    "backoff": "exponential",
    "delay_ms": 1000,
    "multiplier": 2.0
  },
  "events": [
    {
      "name": "StartEvent",
      "kind": "start",
      "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "StartEvent",
        "description": "The event a run starts with: a dict of whatever the caller passed.",
        "type": "object",
        "additionalProperties": true
      }
    },
    {
      "name": "StopEvent",
      "kind": "stop",
      "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "StopEvent",
        "description": "The event that ends a run; `result` is the run's result.",
        "type": "object",
        "properties": {
          "result": {
            "description": "The run's result: any JSON value.",
            "default": null
          }
        }
      }
    },
    {
      "name": "InputRequiredEvent",
      "kind": "input-required",
      "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "InputRequiredEvent",
        "description": "Asks a human for input: streamed to the caller, who answers with a HumanResponseEvent. Dict-like; `prefix` is the prompt by convention.",
        "type": "object",
        "additionalProperties": true
      }
    },
    {
      "name": "HumanResponseEvent",
      "kind": "human-response",
      "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "HumanResponseEvent",
        "description": "A human's answer to an InputRequiredEvent. Dict-like; `response` is the answer by convention.",
        "type": "object",
        "additionalProperties": true
      }
    }
  ]
}
""")
