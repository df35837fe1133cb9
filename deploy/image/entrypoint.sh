#!/bin/sh
# tailstorm-entrypoint ROLE [ARGS]: what one tailstorm container runs.
#   service            uvicorn running services.$TAILSTORM_SERVICE on $TAILSTORM_HOST:$TAILSTORM_PORT (0.0.0.0:8080)
#                      (the local backend's flags: 30 s graceful shutdown, 5 s keep-alive)
#   envoy [CONFIG]     Envoy with CONFIG (default /etc/envoy/envoy.yaml), as the local backend runs it
#   locust [ARGS]      Locust with tailstorm's open-loop locustfile and ARGS
#   chain-test         `helm test`'s check: one request through every service
#   healthcheck        Docker's HEALTHCHECK: the role this container was started with answers
set -eu
role="${1:-service}"
[ $# -gt 0 ] && shift
# remembered for healthcheck; /tmp is writable even with a read-only root filesystem
echo "$role" > /tmp/.tailstorm-role 2>/dev/null || true

case "$role" in
  service)
    : "${TAILSTORM_SERVICE:?set TAILSTORM_SERVICE to one of gateway, auth, featurestore, inference, formatter}"
    exec uvicorn --factory "services.${TAILSTORM_SERVICE}.app:create_app" --host "${TAILSTORM_HOST:-0.0.0.0}" \
      --port "${TAILSTORM_PORT:-8080}" --no-access-log --log-level warning \
      --timeout-graceful-shutdown 30 --timeout-keep-alive 5 ;;
  envoy)
    exec envoy -c "${1:-/etc/envoy/envoy.yaml}" --disable-hot-restart --reject-unknown-dynamic-fields \
      --concurrency 1 -l warning ;;
  locust)
    locustfile="$(python3 -c 'import loadtests, os; print(os.path.join(os.path.dirname(loadtests.__file__), "locustfile.py"))')"
    exec locust -f "$locustfile" "$@" ;;
  chain-test)
    exec python3 -m deploy.cluster.chaintest ;;
  healthcheck)
    started="$(cat /tmp/.tailstorm-role 2>/dev/null || echo service)"
    case "$started" in
      service) url="http://127.0.0.1:${TAILSTORM_PORT:-8080}/healthz" ;;
      envoy) url="http://127.0.0.1:9901/ready" ;;
      *) exit 0 ;;
    esac
    exec python3 -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('$url', timeout=2).status == 200 else 1)" ;;
  *)
    echo "tailstorm-entrypoint: unknown role '$role'; use service, envoy, locust, chain-test or healthcheck" >&2
    exit 2 ;;
esac
