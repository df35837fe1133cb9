#!/usr/bin/env bash
# Make sure a headless-capable Chromium is on PATH for the report screenshot test
# (tests/analysis/test_report_rendering.py). Installs Debian/Ubuntu's `chromium` package with apt
# when it is missing and we are root; anywhere else it says what to do in one sentence and fails.
set -o errexit -o nounset -o pipefail

for candidate in chromium chromium-browser google-chrome; do
  if command -v "${candidate}" >/dev/null 2>&1; then
    echo "chromium: $(command -v "${candidate}")"
    exit 0
  fi
done

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian names the package `chromium`; Ubuntu's transitional `chromium-browser` needs snap.
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  echo "chromium: $(command -v chromium)"
  exit 0
fi

echo "ensure-chromium: Chromium is missing; install it (Debian/Ubuntu as root: apt-get install -y chromium; macOS: brew install --cask chromium) or put a chromium binary on PATH." >&2
exit 1
