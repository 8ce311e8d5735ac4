#!/usr/bin/env bash
# Prints where the local stack's components listen, as KEY=VALUE lines, for programs that need to
# reach them (the test harness, the quick start). `eval "$(bash stack/env.sh)"` exports them.
# SIIRTO_STACK_CLUSTER_NAMES lists the running clusters (c1, or c1,c2,c3 after
# `stack:up -- --clusters=3`); cluster cN's kubeconfig and pod server sockets are in
# $SIIRTO_STACK_CLUSTERS_DIR/cN/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat <<EOF2
export KUBECONFIG=$KUBECONFIG_FILE
export TEMPORAL_ADDRESS=127.0.0.1:$TEMPORAL_PORT
export TEMPORAL_NAMESPACE=default
export SIIRTO_TEMPORAL_PROFILE=$(temporal_profile)
export SIIRTO_TEMPORAL_UI_URL=http://127.0.0.1:$TEMPORAL_UI_PORT
export SIIRTO_PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT
export SIIRTO_PROMETHEUS_TARGETS_DIR=$STATE_DIR/prometheus/targets
export SIIRTO_PROMETHEUS_CONFIG=$STATE_DIR/prometheus/prometheus.yml
export SIIRTO_GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT
export SIIRTO_GATEWAY_METRICS_URL=http://127.0.0.1:$GATEWAY_ADMIN_PORT/metrics
export SIIRTO_POD_SERVER_SOCKET=$STATE_DIR/pod-server/control.sock
export SIIRTO_STACK_BIN_DIR=$BIN_DIR
export SIIRTO_STACK_LOG_DIR=$LOG_DIR
export SIIRTO_STACK_CLUSTER_NAMES=$(names=c1; for ((k = 2; k <= $(running_cluster_count); k++)); do names+=",c$k"; done; echo "$names")
export SIIRTO_STACK_CLUSTERS_DIR=$CLUSTERS_DIR
export PATH=$BIN_DIR:\$PATH
EOF2
