# The local stack as several Kubernetes clusters sharing one Temporal and one Prometheus, for fleet
# rollouts: cluster c1 is the stack's usual control plane; `stack:up -- --clusters=N` (or
# SIIRTO_STACK_CLUSTERS=N) adds c2 … cN, each a control plane of its own: its own etcd and data,
# kube-apiserver, controller manager, scheduler, kwok with its own fake nodes, the Gateway API's CRDs,
# and its own pods' network namespace and pod server, so its pods answer at addresses of its own.
# The extra clusters run no gateway data plane: a rollout there is a canary without a traffic router.
# Prometheus scrapes every cluster's pods and labels each series with `cluster` (c1, c2, …).
# Sourced by lib.sh, never run.
# shellcheck shell=bash

# Ports of cluster k are its component's c1 port plus (k - 1) steps. Stack instances beside each other
# sit 100 ports apart (see the SIIRTO_*_PORT variables), so four clusters of 20 ports stay inside an
# instance's own hundred.
CLUSTER_COUNT_MAX=4
CLUSTER_PORT_STEP="${SIIRTO_CLUSTER_PORT_STEP:-20}"
# The processes of one cluster, in start order; the rest of the stack is shared.
CLUSTER_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok pod-api-proxy pod-server)
# Where each cluster keeps its kubeconfig and pod server sockets: clusters/cN/ (c1's are links to the
# stack's own files, so every cluster is found the same way).
CLUSTERS_DIR="$STATE_DIR/clusters"
# The cluster the scripts act on until use_cluster chooses another: c1, the stack's own.
CLUSTER=c1
CLUSTER_PREFIX=""
CLUSTER_DIR=$STATE_DIR

# How many clusters run: the highest k any of whose components runs (1 when only the stack's own does).
running_cluster_count() {
  local k name count=1
  for ((k = 2; k <= CLUSTER_COUNT_MAX; k++)); do
    for name in "${CLUSTER_COMPONENTS[@]}"; do
      if component_pid "c$k-$name" >/dev/null; then
        count=$k
        break
      fi
    done
  done
  echo "$count"
}

# The number of clusters asked for (SIIRTO_STACK_CLUSTERS, which up.sh sets from --clusters), else the
# running stack's, so a plain `stack:up` keeps what runs. SIIRTO_STACK_MIN_CLUSTERS (--min-clusters)
# asks for at least that many and stops none: what two callers at once use, such as test files side by
# side, so that one asking for fewer never stops the clusters the other one started.
cluster_count() {
  local count=${SIIRTO_STACK_CLUSTERS:-} least=${SIIRTO_STACK_MIN_CLUSTERS:-} running
  if [ -n "$count" ] && [ -n "$least" ]; then
    die "--clusters=$count and --min-clusters=$least both ask for a number of clusters: give one of them"
  fi
  if [ -n "$least" ]; then
    valid_cluster_count "$least" --min-clusters SIIRTO_STACK_MIN_CLUSTERS
    running=$(running_cluster_count)
    echo $((least > running ? least : running))
    return
  fi
  if [ -z "$count" ]; then
    running_cluster_count
    return
  fi
  valid_cluster_count "$count" --clusters SIIRTO_STACK_CLUSTERS
  echo "$count"
}

valid_cluster_count() {
  local count=$1 option=$2 variable=$3
  [[ "$count" =~ ^[1-9][0-9]*$ ]] && [ "$count" -le "$CLUSTER_COUNT_MAX" ] ||
    die "$option (or $variable) is '$count': give a number of clusters from 1 to $CLUSTER_COUNT_MAX"
}

ip_to_int() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
int_to_ip() { echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }

# Points the stack's settings at cluster k: its component names (cK-etcd, …), directory, kubeconfig,
# ports and pods' network. Cluster 1 is the stack as it always was. Call it in a subshell for k > 1.
#
# Cluster k's pods take the k-th sixteenth of SIIRTO_POD_CIDR counted from its top (c2 the last, c3 the
# one below), far from where kwok hands c1's pods their addresses (from the bottom, reusing freed
# ones), so each stack instance's clusters stay inside that instance's own range. In that block the
# pods have the lower half, the fake nodes the first host address of the upper half, and the last /30 is
# the link between host and namespace.
use_cluster() {
  local k=$1
  CLUSTER=c$k
  CLUSTER_PREFIX=""
  CLUSTER_DIR=$STATE_DIR
  [ "$k" = 1 ] && return
  CLUSTER_PREFIX="c$k-"
  CLUSTER_DIR="$CLUSTERS_DIR/c$k"
  KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"
  LOG_PREFIX="c$k: "
  local offset=$(((k - 1) * CLUSTER_PORT_STEP))
  ETCD_PORT=$((ETCD_PORT + offset))
  ETCD_PEER_PORT=$((ETCD_PEER_PORT + offset))
  APISERVER_PORT=$((APISERVER_PORT + offset))
  CONTROLLER_MANAGER_PORT=$((CONTROLLER_MANAGER_PORT + offset))
  SCHEDULER_PORT=$((SCHEDULER_PORT + offset))
  KWOK_PORT=$((KWOK_PORT + offset))

  local prefix=${POD_CIDR#*/}
  [[ "$prefix" =~ ^[0-9]+$ ]] && [ "$prefix" -le 22 ] ||
    die "SIIRTO_POD_CIDR $POD_CIDR is too small to give clusters c2 to c$CLUSTER_COUNT_MAX ranges of their own: give a /22 or larger"
  local block_size=$((1 << (32 - prefix - 4)))
  local base=$(($(ip_to_int "${POD_CIDR%/*}") & ~((1 << (32 - prefix)) - 1) & 0xffffffff))
  local block=$((base + (17 - k) * block_size))
  POD_CIDR="$(int_to_ip "$block")/$((prefix + 5))"
  POD_CIDR_FIRST_IP=$(int_to_ip $((block + 1)))
  NODE_IP=$(int_to_ip $((block + block_size / 2 + 1)))
  POD_LINK_HOST_IP=$(int_to_ip $((block + block_size - 3)))
  POD_LINK_NETNS_IP=$(int_to_ip $((block + block_size - 2)))
  POD_NETNS="$POD_NETNS-c$k"
  POD_LINK_HOST="$POD_LINK_HOST-c$k"
  POD_LINK_NETNS="$POD_LINK_NETNS-c$k"
  local link
  for link in "$POD_LINK_HOST" "$POD_LINK_NETNS"; do
    [ ${#link} -le 15 ] ||
      die "the network link name $link is longer than Linux's 15 characters: shorten SIIRTO_POD_LINK_HOST and SIIRTO_POD_LINK_NETNS to 12 or fewer"
  done
}

# Stops cluster k's processes, newest first, and removes its pods' network.
stop_cluster() {
  local k=$1 i name
  for ((i = ${#CLUSTER_COMPONENTS[@]} - 1; i >= 0; i--)); do
    name="c$k-${CLUSTER_COMPONENTS[$i]}"
    if component_pid "$name" >/dev/null; then
      stop_component "$name"
      log "stopped $name"
    fi
  done
  # The namespace and link by name only: stopping needs none of the addresses use_cluster works out.
  if [ "$(id -u)" = 0 ]; then
    POD_NETNS="$POD_NETNS-c$k" POD_LINK_HOST="$POD_LINK_HOST-c$k" pod_network_down
  fi
}
