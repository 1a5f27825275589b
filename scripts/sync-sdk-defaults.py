#!/usr/bin/env python3
"""Writes the Python and JavaScript SDKs' copies of wit/sdk-defaults.json.

    python3 scripts/sync-sdk-defaults.py          # rewrite the copies
    python3 scripts/sync-sdk-defaults.py --check  # fail if a copy is stale

wit/sdk-defaults.json is the one source of the SDKs' defaults and built-in
event types. The Rust SDK reads it at compile time. The Python and JS SDKs
cannot: `wflow build` runs componentize-py / componentize-js over the SDK
folder alone (the host embeds `guest-sdk/python` and `guest-sdk/js` and writes
them out on their own), and componentize-js has no file system to read a JSON
file from. So each gets a module holding the file's text verbatim, which it
imports like any other module:

- guest-sdk/python/wflow/_sdk_defaults.py: `json.loads(r\"\"\"<text>\"\"\")`
  (valid JSON never contains three quotes in a row);
- guest-sdk/js/sdk-defaults.js: `export default <text>;` (JSON is a JS
  expression).

tests/sdk_agreement.rs fails when a copy does not hold the file's text.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "wit" / "sdk-defaults.json"
HEADER = "Generated from wit/sdk-defaults.json by scripts/sync-sdk-defaults.py: do not edit."


def python_copy(text):
    return (
        f'"""{HEADER}"""\n'
        "\n"
        "import json\n"
        "\n"
        "#: The SDK defaults and built-in event types (see wit/sdk-defaults.json).\n"
        f'SDK_DEFAULTS = json.loads(r"""\n{text}""")\n'
    )


def js_copy(text):
    return (
        f"// {HEADER}\n"
        "\n"
        "/** The SDK defaults and built-in event types (see wit/sdk-defaults.json). */\n"
        f"export default {text.rstrip()};\n"
    )


COPIES = {
    ROOT / "guest-sdk" / "python" / "wflow" / "_sdk_defaults.py": python_copy,
    ROOT / "guest-sdk" / "js" / "sdk-defaults.js": js_copy,
}


def main(argv):
    check = argv == ["--check"]
    if argv and not check:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    text = SOURCE.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except ValueError as err:
        print(f"{SOURCE} is not valid JSON: {err}", file=sys.stderr)
        return 1
    stale = []
    for path, render in COPIES.items():
        wanted = render(text)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == wanted:
            continue
        if check:
            stale.append(path.relative_to(ROOT))
        else:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(f"stale copies of wit/sdk-defaults.json: {names}; run python3 scripts/sync-sdk-defaults.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
