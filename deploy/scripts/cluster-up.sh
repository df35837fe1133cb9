#!/usr/bin/env bash
# `make cluster-up`: the kind cluster (deploy/kind/cluster.yaml), metrics-server and
# prometheus-adapter (rules from deploy/prometheus/adapter.py), ready for `make deploy`.
#   KIND_CLUSTER=tailstorm NAMESPACE=tailstorm PYTHON=.venv/bin/python
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."
cluster="${KIND_CLUSTER:-tailstorm}"
namespace="${NAMESPACE:-tailstorm}"
python="${PYTHON:-.venv/bin/python}"
context="kind-${cluster}"

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "kind cluster '$cluster' exists; reusing it"
else
  kind create cluster --name "$cluster" --config deploy/kind/cluster.yaml --wait 120s
fi

helm repo add metrics-server https://kubernetes-sigs.github.io/metrics-server/ --force-update >/dev/null
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
helm repo update >/dev/null

# kind's kubelets serve self-signed certificates without IP SANs: without --kubelet-insecure-tls
# metrics-server logs "x509: cannot validate certificate ... because it doesn't contain any IP SANs"
# and every cpu HPA shows <unknown>. The chart's defaultArgs already set --metric-resolution=15s.
helm upgrade --install metrics-server metrics-server/metrics-server --kube-context "$context" \
  --namespace kube-system --set 'args={--kubelet-insecure-tls}' --wait --timeout 5m

# prometheus-adapter asks the chart's Prometheus (Service "prometheus" in the release namespace)
values=$(mktemp)
trap 'rm -f "$values"' EXIT
"$python" -m deploy.prometheus.adapter "http://prometheus.${namespace}.svc:9090" > "$values"
helm upgrade --install prometheus-adapter prometheus-community/prometheus-adapter --kube-context "$context" \
  --namespace monitoring --create-namespace --values "$values" --wait --timeout 5m

kubectl --context "$context" get apiservice v1beta1.metrics.k8s.io v1beta1.custom.metrics.k8s.io
echo "cluster '$cluster' is up (context $context); next: make images deploy"
