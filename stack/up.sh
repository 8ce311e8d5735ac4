#!/usr/bin/env bash
# Starts Siirto's local stack on loopback and waits until every component is healthy: etcd, a
# Kubernetes control plane with kwok's fake nodes, the pods' network namespace and the pod server that
# answers for every pod in it, Traefik as the Gateway API data plane with the stack's Gateway, the
# Temporal with its Web UI, and Prometheus discovering the pods. Components already running are left
# alone, so this is safe to repeat.
# Temporal is the CLI's dev server unless `--temporal=postgres` (or SIIRTO_TEMPORAL_PROFILE=postgres)
# asks for a production-shaped cluster: separate frontend, history, matching and worker processes on a
# PostgreSQL of the stack's own (see stack/lib.sh). Without either, a running stack keeps its profile.
# `--clusters=N` (or SIIRTO_STACK_CLUSTERS=N, N up to 4) adds Kubernetes clusters c2 … cN beside the
# stack's own, c1, sharing its Temporal and Prometheus (see stack/clusters.sh); a smaller N stops the
# clusters above it. Without either, a running stack keeps its clusters. `--min-clusters=N` adds
# clusters up to N and stops none.
# Logs go to .stack/logs/; `npm run stack:down` stops everything.
set -euo pipefail
for argument in "$@"; do
  case $argument in
    --temporal=*) export SIIRTO_TEMPORAL_PROFILE=${argument#--temporal=} ;;
    --clusters=*) export SIIRTO_STACK_CLUSTERS=${argument#--clusters=} ;;
    --min-clusters=*) export SIIRTO_STACK_MIN_CLUSTERS=${argument#--min-clusters=} ;;
    *) printf 'siirto stack: unknown option %s (--temporal=dev|postgres, --clusters=N, --min-clusters=N)\n' "$argument" >&2 && exit 2 ;;
  esac
done
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$STACK_SOURCE_DIR/pki.sh"
source "$STACK_SOURCE_DIR/pod-network.sh"

require_tools
TEMPORAL_PROFILE=$(temporal_profile)
export SIIRTO_TEMPORAL_PROFILE=$TEMPORAL_PROFILE
# Checked before the install; counted again once this start holds the lock below.
CLUSTER_COUNT=$(cluster_count)
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
# What runs now, after any start this one waited for: a plain start or --min-clusters keeps its clusters.
CLUSTER_COUNT=$(cluster_count)
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
  launch "${CLUSTER_PREFIX}etcd" "$ETCD_PORT $ETCD_PEER_PORT" etcd --name siirto --data-dir "$CLUSTER_DIR/data/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "siirto=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn || true
  wait_until "${CLUSTER_PREFIX}etcd" 30 http_ok "http://127.0.0.1:$ETCD_PORT/health"
}

start_kube_apiserver() {
  launch "${CLUSTER_PREFIX}kube-apiserver" "$APISERVER_PORT" kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --advertise-address 127.0.0.1 --endpoint-reconciler-type none \
    --tls-cert-file "$PKI_DIR/kube-apiserver.crt" --tls-private-key-file "$PKI_DIR/kube-apiserver.key" \
    --client-ca-file "$PKI_DIR/ca.crt" --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI_DIR/service-accounts.pub" \
    --service-account-signing-key-file "$PKI_DIR/service-accounts.key" \
    --service-cluster-ip-range 10.96.0.0/16 --allow-privileged || true
  wait_until "${CLUSTER_PREFIX}kube-apiserver" 60 kubectl_probe get --raw /readyz
}

start_kube_controller_manager() {
  local kubeconfig="$CLUSTER_DIR/kube-controller-manager.kubeconfig"
  launch "${CLUSTER_PREFIX}kube-controller-manager" "$CONTROLLER_MANAGER_PORT" kube-controller-manager \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" --leader-elect=false \
    --use-service-account-credentials --service-account-private-key-file "$PKI_DIR/service-accounts.key" \
    --root-ca-file "$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key" || true
  wait_until "${CLUSTER_PREFIX}kube-controller-manager" 30 http_ok -k "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz"
}

start_kube_scheduler() {
  local kubeconfig="$CLUSTER_DIR/kube-scheduler.kubeconfig"
  launch "${CLUSTER_PREFIX}kube-scheduler" "$SCHEDULER_PORT" kube-scheduler \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false || true
  wait_until "${CLUSTER_PREFIX}kube-scheduler" 30 http_ok -k "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

# kwok plays the kubelet for nodes annotated as fake: it marks them Ready and their pods Running, and
# renews their leases so the node lifecycle controller never sees them go silent.
start_kwok() {
  launch "${CLUSTER_PREFIX}kwok" "$KWOK_PORT" kwok --kubeconfig "$CLUSTER_DIR/kwok.kubeconfig" \
    --config "$CACHE_DIR/share/kwok-node-stages-$KWOK_VERSION.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds 40 \
    --config "$STACK_SOURCE_DIR/config/kwok-pod-stages.yaml" \
    --cidr "$POD_CIDR_FIRST_IP/${POD_CIDR#*/}" --node-ip "$NODE_IP" --server-address "127.0.0.1:$KWOK_PORT" || true
  wait_until "${CLUSTER_PREFIX}kwok" 30 http_ok "http://127.0.0.1:$KWOK_PORT/healthz"
  kubectl_admin --request-timeout=30s apply -f "$STACK_SOURCE_DIR/config/fake-nodes.yaml" >/dev/null
  wait_until "${CLUSTER_PREFIX}kwok" 30 kubectl_probe wait --for=condition=Ready node --all --timeout=1s
}

install_gateway_api() {
  kubectl_admin --request-timeout=30s apply --server-side --force-conflicts -f "$CACHE_DIR/share/gateway-api-$GATEWAY_API_VERSION" >/dev/null
  wait_until "${CLUSTER_PREFIX}kube-apiserver" 30 kubectl_probe wait --for=condition=Established crd/httproutes.gateway.networking.k8s.io --timeout=1s
}

# The pod server plays the container runtime kwok lacks: inside the pods' network namespace it answers
# at every Running pod's address. It lists and watches pods through kubectl proxy on a Unix socket,
# since the apiserver's loopback address is not reachable from that namespace.
start_pod_server() {
  local dir="$CLUSTER_DIR/pod-server"
  mkdir -p "$dir"
  pod_network_up
  # A socket file left by a proxy that was killed would make the next one fail to listen.
  component_pid "${CLUSTER_PREFIX}pod-api-proxy" >/dev/null || rm -f "$dir/apiserver.sock"
  launch "${CLUSTER_PREFIX}pod-api-proxy" "" kubectl --kubeconfig "$KUBECONFIG_FILE" proxy --unix-socket "$dir/apiserver.sock" || true
  wait_until "${CLUSTER_PREFIX}pod-api-proxy" 30 curl -fsS --max-time 2 --unix-socket "$dir/apiserver.sock" http://localhost/readyz
  # tsx by its path: a bare `--import tsx` would be looked up from wherever stack:up was started.
  launch "${CLUSTER_PREFIX}pod-server" "" ip netns exec "$POD_NETNS" node --import "$PROJECT_DIR/node_modules/tsx/dist/loader.mjs" \
    "$STACK_SOURCE_DIR/pod-server/main.ts" \
    --apiserver-socket "$dir/apiserver.sock" --control-socket "$dir/control.sock" || true
  wait_until "${CLUSTER_PREFIX}pod-server" 30 curl -fsS --max-time 2 --unix-socket "$dir/control.sock" http://localhost/pods
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

# Prometheus' configuration for the clusters asked for: the stack's own jobs, and one job scraping the
# pods of each cluster (config/prometheus-pods-job.yml), labelled with the cluster.
prometheus_config() {
  local dir=$1 k job kubeconfig jobs=""
  for ((k = 1; k <= CLUSTER_COUNT; k++)); do
    job=kubernetes-pods
    [ "$k" = 1 ] || job="kubernetes-pods-c$k"
    kubeconfig="$CLUSTERS_DIR/c$k/kubeconfig"
    [ "$k" = 1 ] && kubeconfig=$KUBECONFIG_FILE
    jobs+=$(sed -e "s|'@JOB@'|$job|" -e "s|@CLUSTER_KUBECONFIG@|$kubeconfig|" -e "s|'@CLUSTER@'|c$k|" \
      -e '/^#/d' -e 's/^/  /' "$STACK_SOURCE_DIR/config/prometheus-pods-job.yml")
    jobs+=$'\n'
  done
  local line
  sed -e "s|@TARGETS_DIR@|$dir/targets|" -e "s|@PROMETHEUS_PORT@|$PROMETHEUS_PORT|" \
    -e "s|@GATEWAY_ADMIN_PORT@|$GATEWAY_ADMIN_PORT|" "$STACK_SOURCE_DIR/config/prometheus.yml" |
    while IFS= read -r line; do
      if [ "$line" = "  # @KUBERNETES_POD_JOBS@" ]; then printf '%s' "$jobs"; else printf '%s\n' "$line"; fi
    done
}

start_prometheus() {
  local dir="$STATE_DIR/prometheus" config
  mkdir -p "$dir/targets" "$STATE_DIR/data/prometheus"
  config=$(prometheus_config "$dir")
  # A running Prometheus rereads a changed configuration (clusters added or stopped) without a restart,
  # keeping its data and the targets it scrapes in the meantime.
  if component_pid prometheus >/dev/null && [ "$(cat "$dir/prometheus.yml" 2>/dev/null)" != "$config" ]; then
    printf '%s\n' "$config" >"$dir/prometheus.yml"
    http_ok -X POST "http://127.0.0.1:$PROMETHEUS_PORT/-/reload" >/dev/null ||
      die "Prometheus did not take its new configuration $dir/prometheus.yml; its log is $LOG_DIR/prometheus.log"
    log "Prometheus now scrapes the pods of $([ "$CLUSTER_COUNT" = 1 ] && echo "c1 only" || echo "clusters c1 to c$CLUSTER_COUNT")"
  fi
  printf '%s\n' "$config" >"$dir/prometheus.yml"
  launch prometheus "$PROMETHEUS_PORT" prometheus --config.file "$dir/prometheus.yml" \
    --storage.tsdb.path "$STATE_DIR/data/prometheus" --storage.tsdb.retention.time 1d \
    --web.listen-address "127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle || true
  wait_until prometheus 30 http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
}

# c1's kubeconfig and pod server, where every cluster's are: clusters/c1/ links to the stack's own.
link_first_cluster() {
  mkdir -p "$CLUSTERS_DIR/c1"
  ln -sfn ../../kubeconfig "$CLUSTERS_DIR/c1/kubeconfig"
  ln -sfn ../../pod-server "$CLUSTERS_DIR/c1/pod-server"
}

# One of the extra clusters, c2 … cN (stack/clusters.sh): its control plane, kwok's nodes, the Gateway
# API's CRDs, its pods' network and pod server. Runs in a subshell of its own, beside c1's start.
start_extra_cluster() (
  use_cluster "$1"
  mkdir -p "$CLUSTER_DIR/data"
  write_cluster_kubeconfigs
  start_etcd
  start_kube_apiserver
  start_kube_controller_manager
  start_kube_scheduler
  start_kwok
  install_gateway_api
  start_pod_server
)

ensure_pki
link_first_cluster
# Clusters above the number asked for stop, side by side: each waits on its own processes' exits.
stops=()
for ((k = $(running_cluster_count); k > CLUSTER_COUNT; k--)); do
  stop_cluster "$k" &
  stops+=("$!")
done
for stop in "${stops[@]}"; do wait "$stop"; done
start_etcd
# The extra clusters start beside c1, each in the background, once c1's first component shows that the
# stack's ports are its own; the start waits for them before Prometheus.
extra_starts=()
for ((k = 2; k <= CLUSTER_COUNT; k++)); do
  start_extra_cluster "$k" &
  extra_starts+=("$!")
done
if [ "$TEMPORAL_PROFILE" = postgres ]; then launch_temporal_postgres; else launch_temporal; fi
start_kube_apiserver
start_kube_controller_manager
start_kube_scheduler
start_kwok
install_gateway_api
start_pod_server
start_traefik
extras_failed=0
for start in "${extra_starts[@]}"; do wait "$start" || extras_failed=1; done
[ "$extras_failed" = 0 ] || die "an extra cluster did not start; its message is above"
start_prometheus
if [ "$TEMPORAL_PROFILE" = postgres ]; then wait_for_temporal_postgres; else wait_for_temporal; fi

log "stack up in $((SECONDS - started_at))s ($CLUSTER_COUNT cluster$([ "$CLUSTER_COUNT" = 1 ] || echo s))"
bash "$STACK_SOURCE_DIR/status.sh"
