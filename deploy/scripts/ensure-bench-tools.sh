#!/usr/bin/env bash
# The independent load generators `make bench-generator` compares tailstorm's with:
# wrk and hey from apt (Debian/Ubuntu; as root or with sudo), autocannon from npm into $1
# (default .bench-tools, git-ignored). A tool that cannot be had is reported in one sentence and
# left out of the table; wrk is required (it measures the endpoint's capacity).
set -o errexit -o nounset -o pipefail
tools_dir="${1:-.bench-tools}"

missing=()
for tool in wrk hey; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null; then sudo="sudo"; else
        echo "bench-generator needs ${missing[*]}: run 'apt-get install ${missing[*]}' as root (no sudo found)." >&2
        exit 1
      fi
    fi
    echo "Installing ${missing[*]} with apt-get ..."
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bench-generator needs ${missing[*]}; install them with your package manager (macOS: brew install wrk hey)." >&2
    exit 1
  fi
fi

if [ ! -x "$tools_dir/node_modules/.bin/autocannon" ]; then
  if command -v npm >/dev/null; then
    echo "Installing autocannon with npm into $tools_dir ..."
    mkdir -p "$tools_dir"
    npm install --silent --no-audit --no-fund --prefix "$tools_dir" autocannon@9 >/dev/null
  else
    echo "autocannon is left out: npm is not installed (apt-get install npm to include it)." >&2
  fi
fi
