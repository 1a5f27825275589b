#!/usr/bin/env bash
# Installs what wflow needs on a machine with Rust:
#  - the wasm32-wasip2 target that Rust guest components are built for;
#  - componentize-py (Python guests), in a virtualenv in wflow's tools folder;
#  - componentize-js (JavaScript guests), with npm, in the same folder;
#  - the reference's Python client (llama-agents-client) and the reference
#    itself (llama-index-workflows), in a virtualenv of their own there, for
#    the tests proving `wflow serve` works with the client and the
#    conformance suite comparing wflow with the reference;
#  - Playwright for Python in that virtualenv too, for the web debugger's
#    browser test (it drives the system's Chromium: scripts/test-browser.sh
#    installs Debian's; Playwright's own browser download is not used);
#  - mermaid (npm), whose browser bundle renders `wflow draw`'s Mermaid in
#    a test.
# The tools folder is $WFLOW_TOOLS_DIR, else ~/.local/share/wflow/tools, where
# `wflow build` looks for them. Versions are pinned; re-running is cheap.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
CLIENT_VERSION=0.4.1
# The reference itself, which the client depends on: pinned, since the
# conformance suite (tests/conformance) compares wflow with this version.
WORKFLOWS_VERSION=2.26.1
PLAYWRIGHT_VERSION=1.65.2
MERMAID_VERSION=11.17.2
tools="${WFLOW_TOOLS_DIR:-$HOME/.local/share/wflow/tools}"

if ! command -v cargo >/dev/null 2>&1; then
    echo "wflow needs Rust: install it from https://rustup.rs" >&2
    exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

mkdir -p "$tools"

py="$tools/python"
if ! "$py/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION"; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "Python guests need python3 (3.10 or newer) to install componentize-py" >&2
        exit 1
    fi
    python3 -m venv "$py"
    "$py/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

js="$tools/node"
installed_js=$(node -p "require('$js/node_modules/@bytecodealliance/componentize-js/package.json').version" 2>/dev/null || true)
if [ "$installed_js" != "$COMPONENTIZE_JS_VERSION" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "JavaScript guests need Node.js 20+ and npm to install componentize-js" >&2
        exit 1
    fi
    mkdir -p "$js"
    npm install --silent --no-audit --no-fund --prefix "$js" "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION"
fi
client="$tools/client"
if ! "$client/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-agents-client') != '$CLIENT_VERSION' or m.version('llama-index-workflows') != '$WORKFLOWS_VERSION' or m.version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
    python3 -m venv "$client"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$client/bin/pip" install --quiet --disable-pip-version-check \
        "llama-agents-client==$CLIENT_VERSION" "llama-index-workflows==$WORKFLOWS_VERSION" \
        "playwright==$PLAYWRIGHT_VERSION"
fi
mermaid="$tools/mermaid"
installed_mermaid=$(node -p "require('$mermaid/node_modules/mermaid/package.json').version" 2>/dev/null || true)
if [ "$installed_mermaid" != "$MERMAID_VERSION" ]; then
    mkdir -p "$mermaid"
    npm install --silent --no-audit --no-fund --prefix "$mermaid" "mermaid@$MERMAID_VERSION"
fi
echo "wflow tools ready in $tools (componentize-py $COMPONENTIZE_PY_VERSION, componentize-js $COMPONENTIZE_JS_VERSION, llama-agents-client $CLIENT_VERSION, llama-index-workflows $WORKFLOWS_VERSION, playwright $PLAYWRIGHT_VERSION, mermaid $MERMAID_VERSION)"
