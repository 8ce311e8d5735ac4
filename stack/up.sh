#!/usr/bin/env bash
# Starts Siirto's local stack on loopback and waits until every component is healthy: etcd, a
# Kubernetes control plane with kwok's fake nodes, the pods' network namespace and the pod server that
# answers for every pod in it, Traefik as the Gateway API data plane with the stack's Gateway, the
# Temporal with its Web UI, and Prometheus discovering the pods. Components already running are left
# alone, so this is safe to repeat.
# Temporal is the CLI's dev server unless `--temporal=postgres` (or SIIRTO_TEMPORAL_PROFILE=postgres)
# asks for a production-shaped cluster: separate frontend, history, matching and worker processes on a
# PostgreSQL of the stack's own (see stack/lib.sh). Without either, a running stack keeps its profile.
# Logs go to .stack/logs/; `npm run stack:down` stops everything.
set -euo pipefail
for argument in "$@"; do
  case $argument in
    --temporal=*) export SIIRTO_TEMPORAL_PROFILE=${argument#--temporal=} ;;
    *) printf 'siirto stack: unknown option %s (--temporal=dev|postgres)\n' "$argument" >&2 && exit 2 ;;
  esac
done
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$STACK_SOURCE_DIR/pki.sh"
source "$STACK_SOURCE_DIR/pod-network.sh"

require_tools
TEMPORAL_PROFILE=$(temporal_profile)
export SIIRTO_TEMPORAL_PROFILE=$TEMPORAL_PROFILE
# A failed install stops the start here rather than starting binaries it could not bring up to their
# pinned versions.
bash "$STACK_SOURCE_DIR/install.sh" --quiet
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl temporal traefik)
[ "$TEMPORAL_PROFILE" = postgres ] && binaries+=(temporal-server temporal-sql-tool temporal-ui-server)
for binary in "${binaries[@]}"; do
  [ -x "$BIN_DIR/$binary" ] || die "$binary is not installed in $BIN_DIR: run npm run stack:install"
done
[ -f "$PROJECT_DIR/node_modules/tsx/package.json" ] ||
  die "the pod server runs on Siirto's own dependencies, which are missing: run npm install first"
mkdir -p "$LOG_DIR" "$PID_DIR" "$STATE_DIR/data"
# One start at a time: two test runs starting the stack together would each launch every component.
# Waits as long as a slow start of every component could take.
hold_lock "$STATE_DIR/up.lock" "${SIIRTO_UP_LOCK_WAIT:-400}" "another stack:up starting the stack in $STATE_DIR"
started_at=$SECONDS
# One profile at a time: both serve Temporal on TEMPORAL_PORT.
for other in "${TEMPORAL_PROFILES[@]}"; do
  if [ "$other" != "$TEMPORAL_PROFILE" ] && temporal_profile_runs "$other"; then
    die "the stack in $STATE_DIR runs Temporal's $other profile; stop it with npm run stack:down before starting it with --temporal=$TEMPORAL_PROFILE"
  fi
done
echo "$TEMPORAL_PROFILE" >"$TEMPORAL_PROFILE_FILE"

# Starts a component in its own session so it outlives this script, unless it already runs. Every
# port it will listen on must be free first: a component that cannot bind one exits or, worse, half runs.
launch() {
  local name=$1 ports=$2 port
  shift 2
  if component_pid "$name" >/dev/null; then
    return 1
  fi
  for port in $ports; do
    if port_in_use "$port"; then
      die "port $port, wanted by $name, is in use by $(port_holder "$port"). Stop it, or choose another port with the SIIRTO_*_PORT variables (see stack/lib.sh)."
    fi
  done
  # Only standard input, output and error are passed on: any other descriptor, the start lock or a lock
  # a caller's flock(1) took around stack:up, would stay open in a long-running component and hold
  # that lock for as long as the component runs.
  (
    for fd in $(ls /proc/$BASHPID/fd); do
      [ "$fd" -le 2 ] || eval "exec $fd>&-" 2>/dev/null || true
    done
    exec setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$PID_DIR/$name.pid"
}

# Every probe has its own time limit: wait_until looks at its deadline only between attempts, so one
# probe stuck on a half-started server would otherwise hang the start.
http_ok() { curl -fsS --max-time 2 "$@"; }
kubectl_admin() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
kubectl_probe() { kubectl_admin --request-timeout=2s "$@"; }

start_etcd() {
  launch etcd "$ETCD_PORT $ETCD_PEER_PORT" etcd --name siirto --data-dir "$STATE_DIR/data/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "siirto=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn || true
  wait_until etcd 30 http_ok "http://127.0.0.1:$ETCD_PORT/health"
}

start_kube_apiserver() {
  launch kube-apiserver "$APISERVER_PORT" kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --advertise-address 127.0.0.1 --endpoint-reconciler-type none \
    --tls-cert-file "$PKI_DIR/kube-apiserver.crt" --tls-private-key-file "$PKI_DIR/kube-apiserver.key" \
    --client-ca-file "$PKI_DIR/ca.crt" --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI_DIR/service-accounts.pub" \
    --service-account-signing-key-file "$PKI_DIR/service-accounts.key" \
    --service-cluster-ip-range 10.96.0.0/16 --allow-privileged || true
  wait_until kube-apiserver 60 kubectl_probe get --raw /readyz
}

start_kube_controller_manager() {
  local kubeconfig="$STATE_DIR/kube-controller-manager.kubeconfig"
  launch kube-controller-manager "$CONTROLLER_MANAGER_PORT" kube-controller-manager \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" --leader-elect=false \
    --use-service-account-credentials --service-account-private-key-file "$PKI_DIR/service-accounts.key" \
    --root-ca-file "$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key" || true
  wait_until kube-controller-manager 30 http_ok -k "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz"
}

start_kube_scheduler() {
  local kubeconfig="$STATE_DIR/kube-scheduler.kubeconfig"
  launch kube-scheduler "$SCHEDULER_PORT" kube-scheduler \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false || true
  wait_until kube-scheduler 30 http_ok -k "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

# kwok plays the kubelet for nodes annotated as fake: it marks them Ready and their pods Running, and
# renews their leases so the node lifecycle controller never sees them go silent.
start_kwok() {
  launch kwok "$KWOK_PORT" kwok --kubeconfig "$STATE_DIR/kwok.kubeconfig" \
    --config "$CACHE_DIR/share/kwok-node-stages-$KWOK_VERSION.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds 40 \
    --config "$STACK_SOURCE_DIR/config/kwok-pod-stages.yaml" \
    --cidr "$POD_CIDR_FIRST_IP/${POD_CIDR#*/}" --node-ip "$NODE_IP" --server-address "127.0.0.1:$KWOK_PORT" || true
  wait_until kwok 30 http_ok "http://127.0.0.1:$KWOK_PORT/healthz"
  kubectl_admin --request-timeout=30s apply -f "$STACK_SOURCE_DIR/config/fake-nodes.yaml" >/dev/null
  wait_until kwok 30 kubectl_probe wait --for=condition=Ready node --all --timeout=1s
}

install_gateway_api() {
  kubectl_admin --request-timeout=30s apply --server-side --force-conflicts -f "$CACHE_DIR/share/gateway-api-$GATEWAY_API_VERSION" >/dev/null
  wait_until kube-apiserver 30 kubectl_probe wait --for=condition=Established crd/httproutes.gateway.networking.k8s.io --timeout=1s
}

# The pod server plays the container runtime kwok lacks: inside the pods' network namespace it answers
# at every Running pod's address. It lists and watches pods through kubectl proxy on a Unix socket,
# since the apiserver's loopback address is not reachable from that namespace.
start_pod_server() {
  local dir="$STATE_DIR/pod-server"
  mkdir -p "$dir"
  pod_network_up
  # A socket file left by a proxy that was killed would make the next one fail to listen.
  component_pid pod-api-proxy >/dev/null || rm -f "$dir/apiserver.sock"
  launch pod-api-proxy "" kubectl --kubeconfig "$KUBECONFIG_FILE" proxy --unix-socket "$dir/apiserver.sock" || true
  wait_until pod-api-proxy 30 curl -fsS --max-time 2 --unix-socket "$dir/apiserver.sock" http://localhost/readyz
  # tsx by its path: a bare `--import tsx` would be looked up from wherever stack:up was started.
  launch pod-server "" ip netns exec "$POD_NETNS" node --import "$PROJECT_DIR/node_modules/tsx/dist/loader.mjs" \
    "$STACK_SOURCE_DIR/pod-server/main.ts" \
    --apiserver-socket "$dir/apiserver.sock" --control-socket "$dir/control.sock" || true
  wait_until pod-server 30 curl -fsS --max-time 2 --unix-socket "$dir/control.sock" http://localhost/pods
}

# Traefik runs outside the cluster, reading KUBECONFIG like any client: its kubernetesGateway provider
# serves the HTTPRoutes attached to the stack's Gateway, its kubernetesIngressNGINX provider plain
# Ingresses of class nginx. It resolves Services to Ready pod addresses through their EndpointSlices.
start_traefik() {
  launch traefik "$GATEWAY_PORT $GATEWAY_ADMIN_PORT" env KUBECONFIG="$KUBECONFIG_FILE" traefik \
    --entryPoints.web.address="127.0.0.1:$GATEWAY_PORT" --entryPoints.admin.address="127.0.0.1:$GATEWAY_ADMIN_PORT" \
    --providers.kubernetesGateway=true --providers.kubernetesGateway.statusAddress.ip=127.0.0.1 \
    --providers.kubernetesIngressNGINX=true --providers.providersThrottleDuration=0s \
    --ping=true --ping.entryPoint=admin \
    --metrics.prometheus=true --metrics.prometheus.entryPoint=admin \
    --metrics.prometheus.addServicesLabels=true --metrics.prometheus.addRoutersLabels=true \
    --log.level=WARN || true
  wait_until traefik 30 http_ok "http://127.0.0.1:$GATEWAY_ADMIN_PORT/ping"
  sed -e "s|port: GATEWAY_PORT|port: $GATEWAY_PORT|" "$STACK_SOURCE_DIR/config/gateway.yaml" |
    kubectl_admin --request-timeout=30s apply -f - >/dev/null
  wait_until traefik 30 kubectl_probe wait --for=condition=Programmed -n siirto-gateway gateway/local --timeout=1s
}

# Temporal needs nothing else of the stack: it starts early and is waited for last, while the rest starts.
launch_temporal() {
  mkdir -p "$STATE_DIR/data/temporal"
  local attributes=() attribute
  for attribute in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do attributes+=(--search-attribute "$attribute"); done
  # Eager activity execution (off in the server by default): an activity scheduled by a workflow task
  # comes back to the worker with the task's completion instead of through matching.
  launch temporal "$TEMPORAL_PORT $TEMPORAL_UI_PORT" temporal server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
    --ui-port "$TEMPORAL_UI_PORT" --db-filename "$STATE_DIR/data/temporal/temporal.db" \
    --dynamic-config-value system.enableActivityEagerExecution=true \
    "${attributes[@]}" --log-level warn || true
}

wait_for_temporal() {
  wait_until temporal 30 timeout -k 1 5 temporal operator cluster health --address "127.0.0.1:$TEMPORAL_PORT"
  wait_until temporal 30 http_ok "http://127.0.0.1:$TEMPORAL_UI_PORT/"
}

source "$STACK_SOURCE_DIR/temporal-postgres.sh"

start_prometheus() {
  local dir="$STATE_DIR/prometheus"
  mkdir -p "$dir/targets" "$STATE_DIR/data/prometheus"
  sed -e "s|@TARGETS_DIR@|$dir/targets|" -e "s|@PROMETHEUS_PORT@|$PROMETHEUS_PORT|" \
    -e "s|@KUBECONFIG@|$KUBECONFIG_FILE|" -e "s|@GATEWAY_ADMIN_PORT@|$GATEWAY_ADMIN_PORT|" \
    "$STACK_SOURCE_DIR/config/prometheus.yml" >"$dir/prometheus.yml"
  launch prometheus "$PROMETHEUS_PORT" prometheus --config.file "$dir/prometheus.yml" \
    --storage.tsdb.path "$STATE_DIR/data/prometheus" --storage.tsdb.retention.time 1d \
    --web.listen-address "127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle || true
  wait_until prometheus 30 http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
}

ensure_pki
start_etcd
if [ "$TEMPORAL_PROFILE" = postgres ]; then launch_temporal_postgres; else launch_temporal; fi
start_kube_apiserver
start_kube_controller_manager
start_kube_scheduler
start_kwok
install_gateway_api
start_pod_server
start_traefik
start_prometheus
if [ "$TEMPORAL_PROFILE" = postgres ]; then wait_for_temporal_postgres; else wait_for_temporal; fi

log "stack up in $((SECONDS - started_at))s"
bash "$STACK_SOURCE_DIR/status.sh"
