#!/usr/bin/env bash
# Make sure a Prometheus server (and promtool) is on PATH for the local backend.
# Debian/Ubuntu: installs the distribution package with apt-get (as root, or with sudo).
# Elsewhere: says in one sentence how to get it, and fails.
set -o errexit -o nounset -o pipefail

if [ -n "${TAILSTORM_PROMETHEUS:-}" ] || { command -v prometheus >/dev/null && command -v promtool >/dev/null; }; then
  exit 0
fi

if command -v apt-get >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
      sudo="sudo"
    else
      echo "tailstorm needs Prometheus: run 'apt-get install prometheus' as root (no sudo found)." >&2
      exit 1
    fi
  fi
  echo "Installing Prometheus with apt-get (the local backend runs its own server on a free port)..."
  # The package's own system service (port 9090) is not used by tailstorm.
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  command -v prometheus >/dev/null && exit 0
  echo "tailstorm: apt-get finished but 'prometheus' is still not on PATH." >&2
  exit 1
fi

case "$(uname -s)" in
  Darwin) echo "tailstorm needs Prometheus: install it with 'brew install prometheus', or set TAILSTORM_PROMETHEUS to a prometheus binary." >&2 ;;
  *) echo "tailstorm needs Prometheus: install it with your package manager (or unpack an official release), then put it on PATH or set TAILSTORM_PROMETHEUS." >&2 ;;
esac
exit 1
