#!/usr/bin/env bash
# Install what tests/demo/test_browser.py needs on a fresh Debian machine (run as root, venv active):
#   * Debian's `chromium` package (apt-get)  -> /usr/bin/chromium
#   * the `playwright` Python package (pip)  -> drives that Chromium through `executable_path`
# Playwright's own browser download (`playwright install`) is never used: this machine cannot fetch browser builds.
#
# This script never fails the CI run: when something cannot be installed it prints a loud reason and exits 0,
# and tests/demo/test_browser.py then SKIPS with the same reason (it re-checks both things itself).
set -u

PLAYWRIGHT_SPEC="${PLAYWRIGHT_SPEC:-playwright>=1.48}"
CHROMIUM_BIN="${DERAIN_CHROMIUM:-/usr/bin/chromium}"

loud() {
    echo "################################################################################" >&2
    echo "# install_browser.sh: $*" >&2
    echo "# -> tests/demo/test_browser.py will be SKIPPED (it FAILS instead when DERAIN_TEST_BROWSER_REQUIRED=1)" >&2
    echo "################################################################################" >&2
}

# --- Chromium ------------------------------------------------------------------------------------------------
if [ -x "$CHROMIUM_BIN" ]; then
    echo "install_browser.sh: chromium already present: $("$CHROMIUM_BIN" --version 2>/dev/null || echo "$CHROMIUM_BIN")"
else
    if [ "$(id -u)" != "0" ]; then
        loud "chromium is missing and we are not root (cannot apt-get install chromium)"
        exit 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        loud "chromium is missing and apt-get is not available (not a Debian-like system)"
        exit 0
    fi
    echo "install_browser.sh: installing Debian's chromium package (apt-get) ..."
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -qq >/tmp/install_browser_apt.log 2>&1; then
        tail -n 20 /tmp/install_browser_apt.log >&2
        loud "apt-get update failed (see above)"
        exit 0
    fi
    # --no-install-recommends keeps it to the browser and its libraries (fonts come as dependencies).
    if ! apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >>/tmp/install_browser_apt.log 2>&1; then
        tail -n 20 /tmp/install_browser_apt.log >&2
        loud "apt-get install chromium failed (see above)"
        exit 0
    fi
    if [ ! -x "$CHROMIUM_BIN" ]; then
        loud "chromium was installed but $CHROMIUM_BIN does not exist"
        exit 0
    fi
    echo "install_browser.sh: installed $("$CHROMIUM_BIN" --version 2>/dev/null)"
fi

# --- Playwright (Python package only; it drives the system Chromium) ----------------------------------------
PY="${PYTHON:-python}"
if ! command -v "$PY" >/dev/null 2>&1; then PY=python3; fi
if "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install_browser.sh: playwright already installed: $("$PY" -m pip show playwright 2>/dev/null | grep -i '^version')"
else
    echo "install_browser.sh: pip install '$PLAYWRIGHT_SPEC' into $("$PY" -c 'import sys; print(sys.prefix)') ..."
    if ! "$PY" -m pip install -q "$PLAYWRIGHT_SPEC" >/tmp/install_browser_pip.log 2>&1; then
        tail -n 20 /tmp/install_browser_pip.log >&2
        loud "pip install playwright failed (see above)"
        exit 0
    fi
    if ! "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
        loud "playwright was pip-installed but does not import"
        exit 0
    fi
    echo "install_browser.sh: installed $("$PY" -m pip show playwright 2>/dev/null | grep -i '^version')"
fi

echo "install_browser.sh: ready (Chromium at $CHROMIUM_BIN, Playwright drives it via executable_path)"
exit 0
