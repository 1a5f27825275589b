"""What a failed build tells the host: the error that stopped the guest
from being described (a bad step signature, a syntax error, a module that
is not there), with the user's file and line, written as JSON beside the
build's entry module. The host reports it instead of the build tool's
traceback."""

import json
import os
import sys

__all__ = ["report"]

#: The file the host reads, in the entry module's folder.
FILE = "describe-error.json"


def _guest_relative(path):
    """A path inside the build (`/1/app.py`: the guest folder is mounted as
    one top-level folder) relative to the guest folder."""
    parts = path.lstrip("/").split("/", 1)
    return parts[1] if len(parts) == 2 else None


def _location(exc):
    """The user's file and line the error is about, if known."""
    located = getattr(exc, "wflow_location", None)
    if located is not None:
        return located
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    tb, found = exc.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(("/0/", "/2/", "<")):
            found = (code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def report(exc):
    """Writes `exc` for the host; never raises."""
    try:
        entry = sys.modules.get("wflow_entry")
        folder = os.path.dirname(getattr(entry, "__file__", None) or "")
        if not folder:
            return
        record = {"kind": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, SyntaxError):
            record["message"] = exc.msg
        location = _location(exc)
        if location is not None:
            relative = _guest_relative(location[0] or "")
            if relative is not None:
                record["file"] = relative
                record["line"] = location[1]
        with open(os.path.join(folder, FILE), "w") as out:
            json.dump(record, out)
    except Exception:
        pass
