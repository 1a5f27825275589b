#!/usr/bin/env python3
"""Check that Mermaid text (e.g. `wflow draw PATH --format mermaid`) is valid.

Renders each file with the real mermaid library in headless Chromium, offline:
for each FILE.mmd it opens a blank page (no network), injects the mermaid
browser bundle, calls `mermaid.initialize({startOnLoad: false})`, then
`await mermaid.parse(text)` and `await mermaid.render('g', text)`, and counts
the nodes (`g.node`) and edges (`path.flowchart-link`, or `.edgePath` for older
mermaid) of the rendered SVG.

    python3 tests/browser/mermaid.py --mermaid-js $TOOLS/mermaid/node_modules/mermaid/dist/mermaid.min.js \\
        [--chromium /usr/bin/chromium] FILE.mmd [FILE.mmd ...]

Prints one `OK FILE: N nodes, M edges` line per file and `PASS` at the end.

Exit status:
  0  every file parsed and rendered;
  1  a file failed to parse or render (the message names the file and gives
     mermaid's error), its SVG has no node, the page threw, or the page made a
     network request (anything other than about: or data:);
  2  environment problem: the `playwright` package, Chromium, the mermaid
     bundle or an input file is missing, or the bundle does not define `mermaid`.

Needs the `playwright` Python package and Debian's Chromium at
/usr/bin/chromium (Playwright's own browser download is not used). The mermaid
bundle comes from npm, e.g.
`npm install --prefix "$tools/mermaid" mermaid@11.17.2`.
"""

import argparse
import json
import os
import sys
import time

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - environment problem, said clearly
    print("FAIL: the Python package 'playwright' is not installed (pip install playwright)", file=sys.stderr)
    sys.exit(2)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BLANK_HTML = "<!doctype html><html><head><meta charset=\"utf-8\"></head><body></body></html>"

# Runs in the page; never throws: returns {error} or the counts.
RENDER_JS = """
async (text) => {
  if (typeof mermaid === 'undefined') return { fatal: 'the bundle did not define a global `mermaid`' };
  const msg = (e) => (e && (e.message || e.str)) ? String(e.message || e.str) : String(e);
  try {
    mermaid.initialize({ startOnLoad: false });
  } catch (e) {
    return { fatal: 'mermaid.initialize failed: ' + msg(e) };
  }
  try {
    await mermaid.parse(text);
  } catch (e) {
    return { error: 'parse error: ' + msg(e) };
  }
  let svg;
  try {
    ({ svg } = await mermaid.render('g', text));
  } catch (e) {
    return { error: 'render error: ' + msg(e) };
  }
  const holder = document.createElement('div');
  holder.innerHTML = svg;
  document.body.appendChild(holder);
  const root = holder.querySelector('svg');
  if (!root) return { error: 'render returned no <svg> element' };
  const links = root.querySelectorAll('path.flowchart-link').length;
  const edgePaths = root.querySelectorAll('.edgePath').length;
  return {
    nodes: root.querySelectorAll('g.node').length,
    edges: links || edgePaths,
    edgeSelector: links ? 'path.flowchart-link' : (edgePaths ? '.edgePath' : 'none'),
    svgChars: svg.length,
    syntaxErrorSvg: /Syntax error in text/.test(svg),
  };
}
"""


class Fatal(Exception):
    """An environment problem: exit 2."""


def allowed_url(url):
    return url.startswith("about:") or url.startswith("data:")


def check_file(context, bundle, path, timeout_ms):
    """Return (ok, line). Raises Fatal for environment problems."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.strip():
        return False, f"FAIL {path}: the file is empty"

    requests, page_errors = [], []
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.on("request", lambda r: None if allowed_url(r.url) else requests.append(r.url))
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    try:
        page.set_content(BLANK_HTML)
        try:
            page.add_script_tag(path=bundle)
        except PlaywrightError as e:
            raise Fatal(f"could not load the mermaid bundle {bundle}: {e}")
        res = page.evaluate(RENDER_JS, text)
    finally:
        page.close()

    if res.get("fatal"):
        raise Fatal(f"{bundle}: {res['fatal']}")
    if requests:
        return False, f"FAIL {path}: the page made network requests: {', '.join(requests)}"
    if res.get("error"):
        return False, f"FAIL {path}: mermaid {res['error']}"
    if page_errors:
        return False, f"FAIL {path}: the page threw: {'; '.join(page_errors)}"
    if res.get("syntaxErrorSvg"):
        return False, f"FAIL {path}: mermaid rendered its 'Syntax error in text' diagram"
    if res["nodes"] == 0:
        return False, f"FAIL {path}: the rendered SVG has no g.node element"
    return True, (f"OK {path}: {res['nodes']} nodes, {res['edges']} edges "
                  f"(edges counted as {res['edgeSelector']})")


def bundle_version(bundle):
    """mermaid's version from the package.json above the bundle, or None."""
    d = os.path.dirname(bundle)
    for _ in range(3):
        try:
            with open(os.path.join(d, "package.json"), encoding="utf-8") as f:
                pkg = json.load(f)
            if pkg.get("name") == "mermaid":
                return pkg.get("version")
        except (OSError, ValueError):
            pass
        d = os.path.dirname(d)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mermaid-js", required=True, help="mermaid's self-contained browser bundle (dist/mermaid.min.js)")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds each page step may take (default 30)")
    ap.add_argument("files", nargs="+", metavar="FILE.mmd", help="Mermaid text to check")
    args = ap.parse_args()

    if not os.path.isfile(args.mermaid_js):
        print(f"FAIL: the mermaid bundle {args.mermaid_js} does not exist "
              "(npm install --prefix \"$tools/mermaid\" mermaid@11.17.2)", file=sys.stderr)
        return 2
    if not os.access(args.chromium, os.X_OK):
        print(f"FAIL: Chromium {args.chromium} is not an executable file", file=sys.stderr)
        return 2
    missing = [p for p in args.files if not os.path.isfile(p)]
    if missing:
        print(f"FAIL: input file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2

    bundle = os.path.abspath(args.mermaid_js)
    print(f"mermaid {bundle_version(bundle) or '(unknown version)'} from {bundle}", flush=True)
    failures = 0
    start = time.monotonic()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context()
                # Keep the page offline: anything but about:/data: is aborted
                # (and reported by the request listener in check_file).
                context.route("**/*", lambda route: route.continue_() if allowed_url(route.request.url)
                              else route.abort())
                for path in args.files:
                    ok, line = check_file(context, bundle, path, int(args.timeout * 1000))
                    print(line, file=sys.stdout if ok else sys.stderr, flush=True)
                    failures += not ok
            finally:
                browser.close()
    except Fatal as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 2
    except PlaywrightError as e:
        print(f"FAIL: browser error: {e}", file=sys.stderr)
        return 1

    elapsed = time.monotonic() - start
    if failures:
        print(f"FAIL: {failures} of {len(args.files)} file(s) did not render ({elapsed:.1f}s)", file=sys.stderr)
        return 1
    print(f"PASS: {len(args.files)} file(s) rendered ({elapsed:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
