#!/usr/bin/env bash
# Build the one tailstorm image (`make images`) and load it into the kind cluster when there is one.
# The build context gets every wheel the image needs, downloaded here for the image's platform
# (linux, Python $PYTHON_VERSION, the Docker engine's CPU), so `docker build` needs no package index.
#   IMAGE=tailstorm:0.1.0 BASE_IMAGE=debian:bookworm-slim PYTHON_VERSION=3.11 KIND_CLUSTER=tailstorm
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."

image="${IMAGE:-tailstorm:0.1.0}"
base="${BASE_IMAGE:-debian:bookworm-slim}"
python_version="${PYTHON_VERSION:-3.11}"
python="${PYTHON:-.venv/bin/python}"
context="${IMAGE_CONTEXT:-build/image}"
cluster="${KIND_CLUSTER:-tailstorm}"

command -v docker >/dev/null || { echo "build-image: docker is missing; install Docker Engine 20.10+ or Docker Desktop (make check-tools)." >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build-image: the Docker engine does not answer; start Docker (or set DOCKER_HOST)." >&2; exit 1; }
case "$(docker info --format '{{.Architecture}}')" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) echo "build-image: unsupported engine architecture $(docker info --format '{{.Architecture}}')" >&2; exit 1 ;;
esac

rm -rf "$context" && mkdir -p "$context/wheels"
"$python" deploy/image/requirements.py > "$context/wheels/requirements.txt"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheels" .
platforms=()
for tag in manylinux2014 manylinux_2_17 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
  platforms+=(--platform "${tag}_${arch}")
done
"$python" -m pip download --quiet --dest "$context/wheels" --only-binary=:all: --implementation cp \
  --python-version "$python_version" "${platforms[@]}" -r "$context/wheels/requirements.txt"
cp deploy/image/Dockerfile deploy/image/entrypoint.sh "$context/"

started=$(date +%s)
# --network host: an engine started without a bridge (the image test's) still reaches apt
docker build --network host --build-arg "BASE_IMAGE=$base" -t "$image" "$context"
echo "built $image in $(( $(date +%s) - started )) s: $(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"

if command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind load docker-image "$image" --name "$cluster"
else
  echo "no kind cluster '$cluster' (make cluster-up): the image stays in the local engine"
fi
