#!/usr/bin/env bash
# Make sure the image test (`make image-test`) can start its own Docker engine and build an
# offline base: dockerd (Debian's docker.io) and debootstrap, installed with apt as root when
# missing. Anywhere else it says what to install in one sentence and fails.
set -o errexit -o nounset -o pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "ensure-docker: the image test needs ${missing[*]}; on Debian/Ubuntu run 'apt-get install ${missing[*]}' as root." >&2
exit 1
