# Shared settings of the local stack scripts: where binaries are cached, where the running stack keeps
# its state, and which loopback ports each component listens on. Sourced, never run.
# shellcheck shell=bash

STACK_SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_DIR="$(dirname "$STACK_SOURCE_DIR")"
# shellcheck source=stack/versions.env
source "$STACK_SOURCE_DIR/versions.env"
KUBERNETES_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$STACK_SOURCE_DIR/go/kubernetes/go.mod")"
ETCD_VERSION="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" {print $3}' "$STACK_SOURCE_DIR/go/etcd/go.mod")"

# Built binaries live outside the repository so a fresh clone, or a second one, reuses them.
CACHE_DIR="${SIIRTO_CACHE_DIR:-$HOME/.cache/siirto}"
BIN_DIR="$CACHE_DIR/bin"
STAMP_DIR="$CACHE_DIR/stamps"
# The running stack's data, certificates, kubeconfig and logs stay with the checkout that started it.
STATE_DIR="${SIIRTO_STACK_DIR:-$PROJECT_DIR/.stack}"
LOG_DIR="$STATE_DIR/logs"
PID_DIR="$STATE_DIR/pids"
KUBECONFIG_FILE="$STATE_DIR/kubeconfig"

# Temporal keeps its usual ports so `temporal` and `tctl` work without --address.
TEMPORAL_PORT="${SIIRTO_TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${SIIRTO_TEMPORAL_UI_PORT:-8233}"
ETCD_PORT="${SIIRTO_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${SIIRTO_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${SIIRTO_APISERVER_PORT:-16443}"
CONTROLLER_MANAGER_PORT="${SIIRTO_CONTROLLER_MANAGER_PORT:-20257}"
SCHEDULER_PORT="${SIIRTO_SCHEDULER_PORT:-20259}"
KWOK_PORT="${SIIRTO_KWOK_PORT:-20247}"
PROMETHEUS_PORT="${SIIRTO_PROMETHEUS_PORT:-19090}"

# Search attributes the rollout workflows set; the dev server must know them before a workflow starts.
TEMPORAL_SEARCH_ATTRIBUTES=(RolloutNamespace=Keyword RolloutName=Keyword RolloutRevision=Keyword RolloutPhase=Keyword RolloutStrategy=Keyword)

export GOTOOLCHAIN=local
export PATH="$BIN_DIR:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'siirto stack: %s\n' "$*" >&2; exit 1; }

# The stack's processes, in start order; down.sh stops them in reverse.
STACK_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok temporal prometheus)

component_pid() {
  local pidfile="$PID_DIR/$1.pid"
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Waits until a command succeeds, failing with the component's log tail when the deadline passes
# or the process exits first.
wait_until() {
  local name=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! component_pid "$name" >/dev/null; then
      tail -n 20 "$LOG_DIR/$name.log" >&2 2>/dev/null || true
      die "$name exited during start; its log is $LOG_DIR/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$LOG_DIR/$name.log" >&2 2>/dev/null || true
      die "$name was not healthy within ${seconds}s; its log is $LOG_DIR/$name.log"
    fi
    sleep 0.2
  done
}

# Says who holds a TCP port on loopback, or nothing when it is free.
port_holder() {
  ss -Hltnp "( sport = :$1 )" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n 1 | sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/\1 (pid \2)/'
}

stop_component() {
  local name=$1 pid
  pid=$(component_pid "$name") || { rm -f "$PID_DIR/$name.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PID_DIR/$name.pid"
}
