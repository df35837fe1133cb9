#!/usr/bin/env bash
# `make check-tools`: docker, kind, kubectl and helm, each present and new enough for the kind path;
# one sentence per missing or old tool saying what to install, then a non-zero exit.
set -o errexit -o nounset -o pipefail

problems=0
say() { echo "check-tools: $*" >&2; problems=$((problems + 1)); }
# version_at_least HAVE WANT: compares dotted versions numerically
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

if ! command -v docker >/dev/null; then
  say "docker is missing: install Docker Engine 20.10 or newer (Linux: your distribution's docker.io or Docker's packages; macOS/Windows: Docker Desktop)."
elif ! docker info >/dev/null 2>&1; then
  say "docker is installed but its engine does not answer: start Docker (Desktop) or add yourself to the docker group."
fi

if ! command -v kind >/dev/null; then
  say "kind is missing: install kind v0.31.0 or newer (go install sigs.k8s.io/kind@v0.31.0, or 'brew install kind'); deploy/kind/cluster.yaml pins its node image."
else
  have=$(kind version | sed -n 's/^kind v\([0-9.]*\).*/\1/p')
  version_at_least "${have:-0}" 0.31.0 || say "kind ${have:-unknown} is too old: install v0.31.0 or newer (its node image kindest/node:v1.35.0 is pinned)."
fi

if ! command -v kubectl >/dev/null; then
  say "kubectl is missing: install kubectl v1.34 to v1.36 (within one minor version of the cluster's v1.35; 'brew install kubectl' or the Kubernetes apt/yum repositories)."
else
  have=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"v\([0-9.]*\).*/\1/p' | head -n1)
  version_at_least "${have:-0}" 1.34.0 || say "kubectl ${have:-unknown} is too old for the v1.35 cluster: install v1.34 or newer."
fi

if ! command -v helm >/dev/null; then
  say "helm is missing: install Helm 3.14 or newer ('brew install helm', or the get-helm-3 script from helm.sh)."
else
  have=$(helm version --template '{{.Version}}' 2>/dev/null | sed 's/^v//')
  version_at_least "${have:-0}" 3.14.0 || say "helm ${have:-unknown} is too old: install 3.14 or newer."
fi

if [ "$problems" -gt 0 ]; then
  exit 1
fi
echo "check-tools: docker, kind, kubectl and helm are ready"
