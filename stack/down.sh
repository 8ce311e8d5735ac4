#!/usr/bin/env bash
# Stops the local stack, newest component first, with every cluster `stack:up -- --clusters=N` added,
# and removes the pods' network namespaces with their routes. Data stays in .stack/ so the next
# `stack:up` finds its workflows and cluster objects again; pass --purge to start from nothing next time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$STACK_SOURCE_DIR/pod-network.sh"

# The extra clusters (stack/clusters.sh) stop side by side with the stack's own components, each
# waiting on its own processes' exits. Whichever Temporal profile runs: the components of both are
# stopped if found.
stops=()
for ((k = CLUSTER_COUNT_MAX; k >= 2; k--)); do
  stop_cluster "$k" &
  stops+=("$!")
done
for ((i = ${#ALL_STACK_COMPONENTS[@]} - 1; i >= 0; i--)); do
  name=${ALL_STACK_COMPONENTS[$i]}
  if component_pid "$name" >/dev/null; then
    stop_component "$name"
    log "stopped $name"
  fi
done
for stop in "${stops[@]}"; do wait "$stop"; done
[ "$(id -u)" != 0 ] || pod_network_down
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$STATE_DIR"
  log "removed $STATE_DIR"
fi
