#!/usr/bin/env bash
# Install the system Chromium and its WebDriver from Debian's packages for the browser test
# (tests/ui/test_browser.py). Idempotent: does nothing when both are already there.
# Exits non-zero (and the browser test skips, naming this script) when they cannot be
# installed, e.g. without root or without Debian's package archive.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && SUDO="sudo -n" || { echo "need root to apt-get install chromium" >&2; exit 1; }
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
