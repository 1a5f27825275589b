"""`python3 -m wflow describe [MODULE]`: import MODULE (default "app", from
the current directory) and print what the component would declare, as JSON
(event schemas and state parsed). Needs no bindings: a quick check of a
guest's steps and schemas before building it."""

import importlib
import json
import os
import sys

from . import _runtime


def main(argv):
    if len(argv) < 1 or argv[0] != "describe" or len(argv) > 2:
        print("usage: python3 -m wflow describe [MODULE]", file=sys.stderr)
        return 2
    module = argv[1] if len(argv) == 2 else "app"
    sys.path.insert(0, os.getcwd())
    importlib.import_module(module)
    info = _runtime.describe()
    for event in info["events"]:
        event["schema"] = json.loads(event["schema"])
    if info["state"] is not None:
        info["state"] = {k: json.loads(v) for k, v in info["state"].items()}
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
