#!/usr/bin/env bash
# Prints each component of the local stack, whether it runs, and where it listens. Exits non-zero
# when any component is down.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A endpoint=(
  [etcd]="http://127.0.0.1:$ETCD_PORT"
  [kube-apiserver]="https://127.0.0.1:$APISERVER_PORT"
  [kube-controller-manager]="https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz"
  [kube-scheduler]="https://127.0.0.1:$SCHEDULER_PORT/healthz"
  [kwok]="http://127.0.0.1:$KWOK_PORT/healthz"
  [pod-api-proxy]="$STATE_DIR/pod-server/apiserver.sock"
  [pod-server]="pods at $POD_CIDR in network namespace $POD_NETNS"
  [traefik]="http://127.0.0.1:$GATEWAY_PORT (metrics http://127.0.0.1:$GATEWAY_ADMIN_PORT/metrics)"
  [temporal]="127.0.0.1:$TEMPORAL_PORT (Web UI http://127.0.0.1:$TEMPORAL_UI_PORT)"
  [postgres]="127.0.0.1:$TEMPORAL_POSTGRES_PORT, Temporal's persistence and visibility"
  [temporal-frontend]="127.0.0.1:$TEMPORAL_PORT"
  [temporal-history]="127.0.0.1:$TEMPORAL_HISTORY_PORT, $TEMPORAL_HISTORY_SHARDS shards"
  [temporal-matching]="127.0.0.1:$TEMPORAL_MATCHING_PORT"
  [temporal-worker]="127.0.0.1:$TEMPORAL_WORKER_PORT"
  [temporal-ui]="http://127.0.0.1:$TEMPORAL_UI_PORT"
  [prometheus]="http://127.0.0.1:$PROMETHEUS_PORT"
)
profile=$(temporal_profile)
echo "  Temporal profile: $profile"
down=0
total_kib=0
show() {
  local name=$1 where=$2 pid rss_kib rss
  if pid=$(component_pid "$name"); then
    rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    total_kib=$((total_kib + ${rss_kib:-0}))
    rss=$(awk -v kib="${rss_kib:-0}" 'BEGIN {printf "%d MiB", kib / 1024}')
    printf '  %-28s up    pid %-7s %-9s %s\n' "$name" "$pid" "$rss" "$where"
  else
    printf '  %-28s down                    %s\n' "$name" "$where"
    down=1
  fi
}
for name in $(stack_components "$profile"); do show "$name" "${endpoint[$name]}"; done
# The clusters `stack:up -- --clusters=N` added (stack/clusters.sh), each with its own components.
clusters=$(running_cluster_count)
for ((k = 2; k <= clusters; k++)); do
  offset=$(((k - 1) * CLUSTER_PORT_STEP))
  dir="$CLUSTERS_DIR/c$k"
  declare -A cluster_endpoint=(
    [etcd]="http://127.0.0.1:$((ETCD_PORT + offset))"
    [kube-apiserver]="https://127.0.0.1:$((APISERVER_PORT + offset))"
    [kube-controller-manager]="https://127.0.0.1:$((CONTROLLER_MANAGER_PORT + offset))/healthz"
    [kube-scheduler]="https://127.0.0.1:$((SCHEDULER_PORT + offset))/healthz"
    [kwok]="http://127.0.0.1:$((KWOK_PORT + offset))/healthz"
    [pod-api-proxy]="$dir/pod-server/apiserver.sock"
    [pod-server]=$(
      use_cluster "$k"
      echo "pods at $POD_CIDR in network namespace $POD_NETNS"
    )
  )
  for component in "${CLUSTER_COMPONENTS[@]}"; do
    show "c$k-$component" "${cluster_endpoint[$component]}"
  done
done
printf '  %-28s %-17s %-9s %s\n' total "" "$((total_kib / 1024)) MiB" "resident memory of the running components"
echo
echo "  kubeconfig:       export KUBECONFIG=$KUBECONFIG_FILE"
for ((k = 2; k <= clusters; k++)); do
  echo "  cluster c$k:       export KUBECONFIG=$CLUSTERS_DIR/c$k/kubeconfig"
done
echo "  Temporal Web UI:  http://127.0.0.1:$TEMPORAL_UI_PORT"
echo "  logs:             $LOG_DIR/"
exit $down
