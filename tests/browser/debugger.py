#!/usr/bin/env python3
"""Browser test of the wflow debugger page (host/server/ui/).

Drives the page served by `wflow serve` in headless Chromium:

  1. opens `/`, waits for the workflow list to show `hitl`, screenshots it;
  2. opens hitl's page and starts a run from the generated start form;
  3. on the run page waits for the prompt (the run's InputRequiredEvent),
     answers `Ada`, and waits for the result `Hello, Ada!`; screenshots it.

It fails (exit 1, with a message saying which check failed) if any check
times out, if the page requested any host other than the server's, or if the
page logged a console error (a failed request, a Content-Security-Policy
violation) or threw.

    python3 tests/browser/debugger.py --base-url http://127.0.0.1:PORT --screenshots DIR

Needs the `playwright` Python package and Debian's Chromium at
/usr/bin/chromium (Playwright's own browser download is not used).
"""

import argparse
import os
import re
import sys
import time
import traceback
from urllib.parse import urlparse

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright
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

# Chromium itself logs "Failed to load resource: ... 404" for a fetch the
# page makes and expects may fail: the state of a run that has none. That is
# tolerated; every other console error fails the test.
EXPECTED_404 = re.compile(r"/handlers/[^/]+/state$")


class Failure(Exception):
    pass


def origin(url):
    u = urlparse(url)
    return (u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", required=True, help="the server that serves the page, e.g. http://127.0.0.1:8080")
    ap.add_argument("--screenshots", default=".", help="folder for debugger-workflows.png and debugger-run.png")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds each check may wait (default 30)")
    ap.add_argument("--workflow", default="hitl", help="the HITL workflow to drive (default hitl)")
    ap.add_argument("--name", default="Ada", help="the answer to the prompt (default Ada)")
    ap.add_argument("--headed", action="store_true", help="show the browser (debugging)")
    args = ap.parse_args()

    base = args.base_url.rstrip("/")
    page_url = base + "/"
    allowed = {origin(base)}
    timeout_ms = int(args.timeout * 1000)
    os.makedirs(args.screenshots, exist_ok=True)
    shot_workflows = os.path.join(args.screenshots, "debugger-workflows.png")
    shot_run = os.path.join(args.screenshots, "debugger-run.png")

    if not os.path.exists(args.chromium):
        print(f"FAIL: no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2

    foreign = []  # requests to other hosts
    console_errors = []  # console errors and uncaught exceptions
    tolerated = []
    started = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    def on_request(request):
        url = request.url
        scheme = urlparse(url).scheme
        if scheme in ("data", "blob", "about"):
            return
        if origin(url) not in allowed:
            foreign.append(f"{request.method} {url}")

    def on_console(msg):
        if msg.type != "error":
            return
        text = msg.text
        loc = (msg.location or {}).get("url", "") or ""
        if text.startswith("Failed to load resource") and "404" in text and EXPECTED_404.search(urlparse(loc).path):
            tolerated.append(f"{text} ({loc})")
            return
        console_errors.append(f"console.error: {text}" + (f" ({loc})" if loc else ""))

    def on_pageerror(err):
        console_errors.append(f"uncaught exception: {err}")

    def check(description, fn):
        """Runs one check; a Playwright timeout/assertion becomes a Failure naming it."""
        log(f"check: {description}")
        try:
            return fn()
        except (AssertionError, PlaywrightError) as e:
            first = str(e).strip().splitlines()
            raise Failure(f"{description}: {first[0] if first else type(e).__name__}\n{str(e).strip()}") from None

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            headless=not args.headed,
            args=[a for a in CHROMIUM_ARGS if not (args.headed and a == "--headless")],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(timeout_ms)
        expect.set_options(timeout=timeout_ms)
        page = context.new_page()
        page.on("request", on_request)
        page.on("console", on_console)
        page.on("pageerror", on_pageerror)
        code = 0
        try:
            # 1. The workflow list.
            log(f"open {page_url}")
            check("the page loads", lambda: page.goto(page_url, wait_until="domcontentloaded"))
            link = page.get_by_test_id(f"workflow-link-{args.workflow}")
            check(f"the workflow list shows '{args.workflow}'", lambda: expect(link).to_be_visible())
            page.wait_for_load_state("networkidle", timeout=timeout_ms)
            page.screenshot(path=shot_workflows, full_page=True)
            log(f"screenshot {shot_workflows}")

            # 2. The workflow page and its start form.
            check(f"open the page of '{args.workflow}'", lambda: link.click())
            check("the URL is the workflow's", lambda: expect(page).to_have_url(re.compile(r"#/workflows/" + re.escape(args.workflow) + "$")))
            form = page.get_by_test_id("start-form")
            check("the start form is shown", lambda: expect(form).to_be_visible())
            check("the graph is shown", lambda: expect(page.get_by_test_id("graph")).to_be_visible())
            check("the graph is the server's SVG, its steps marked", lambda: expect(page.locator('[data-testid=graph] svg .node.step[data-step]').first).to_be_attached())
            check("start a run", lambda: page.get_by_test_id("start-submit").click())

            # 3. The run page: prompt, answer, result.
            check("the run page opens", lambda: expect(page).to_have_url(re.compile(r"#/runs/[^/?]+$")))
            handler_id = page.url.rsplit("/", 1)[-1]
            log(f"run {handler_id}")
            check("the run status shows", lambda: expect(page.get_by_test_id("run-status")).to_be_visible())
            prompt = page.get_by_test_id("prompt-form")
            check("the prompt form appears (InputRequiredEvent on the stream)", lambda: expect(prompt).to_be_visible())
            check("the prompt asks for a name", lambda: expect(page.get_by_test_id("prompt-text")).to_contain_text(re.compile("name", re.I)))
            check("the event to send is HumanResponseEvent", lambda: expect(page.get_by_test_id("prompt-type")).to_have_value("HumanResponseEvent"))
            answer = prompt.get_by_test_id("prompt-input")
            check(f"type the answer '{args.name}'", lambda: answer.fill(args.name))
            check("send the answer", lambda: page.get_by_test_id("prompt-submit").click())
            result = page.get_by_test_id("run-result")
            greeting = f"Hello, {args.name}!"
            check(f"the result shows '{greeting}'", lambda: expect(result).to_contain_text(greeting))
            check("the status is completed", lambda: expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "completed"))
            check("the prompt form is gone", lambda: expect(prompt).to_have_count(0))
            check("the event stream shows rows", lambda: expect(page.get_by_test_id("event-row").first).to_be_attached())
            check("the stream ended", lambda: expect(page.get_by_test_id("stream-state")).to_have_attribute("data-state", "ended"))
            check("the timeline has a step call", lambda: expect(page.get_by_test_id("timeline-bar").first).to_be_visible())
            check("the state panel has loaded", lambda: expect(page.get_by_test_id("state")).not_to_contain_text("Loading"))
            page.wait_for_load_state("networkidle", timeout=timeout_ms)
            page.screenshot(path=shot_run, full_page=True)
            log(f"screenshot {shot_run}")
            rows = page.get_by_test_id("event-row").count()
            log(f"{rows} event rows, status completed, result contains {greeting!r}")
        except Failure as e:
            print(f"FAIL: {e}", file=sys.stderr)
            try:
                path = os.path.join(args.screenshots, "debugger-failure.png")
                page.screenshot(path=path, full_page=True)
                print(f"(page at the failure: {path})", file=sys.stderr)
            except Exception:  # noqa: BLE001 - best effort
                pass
            code = 1
        except Exception:  # noqa: BLE001 - any other error is a failure too
            print("FAIL: unexpected error", file=sys.stderr)
            traceback.print_exc()
            code = 1
        finally:
            context.close()
            browser.close()

    for t in tolerated:
        log(f"tolerated (expected 404): {t}")
    if foreign:
        print("FAIL: the page made requests to hosts other than the server:", file=sys.stderr)
        for r in foreign:
            print(f"  {r}", file=sys.stderr)
        code = 1
    if console_errors:
        print("FAIL: the page logged console errors:", file=sys.stderr)
        for c in console_errors:
            print(f"  {c}", file=sys.stderr)
        code = 1
    if code == 0:
        log("PASS: debugger workflow list, start form, prompt answer and result all work")
    return code


if __name__ == "__main__":
    sys.exit(main())
