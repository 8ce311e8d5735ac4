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
# Traefik, the gateway: its `web` entry point takes the traffic of every HTTPRoute attached to the
# stack's Gateway; its `admin` entry point serves its metrics and health.
GATEWAY_PORT="${SIIRTO_GATEWAY_PORT:-18000}"
GATEWAY_ADMIN_PORT="${SIIRTO_GATEWAY_ADMIN_PORT:-18001}"

# Pods get addresses from a range reserved for network benchmarks (RFC 2544), routed from this host
# into a network namespace of the stack's own, where the pod server answers for every pod. Nothing in
# the stack sends traffic anywhere but loopback and that namespace.
# Each can be moved with its SIIRTO_ variable, so a second stack (another SIIRTO_STACK_DIR) can run
# beside the first with a namespace, link and ranges of its own that overlap none of the first's.
POD_NETNS="${SIIRTO_POD_NETNS:-siirto-pods}"
POD_CIDR="${SIIRTO_POD_CIDR:-198.18.0.0/16}"
# kwok hands out addresses from this one on.
POD_CIDR_FIRST_IP="${SIIRTO_POD_FIRST_IP:-198.18.0.1}"
# Fake nodes' address: inside the namespace's range too, so even a stray request stays in it.
NODE_IP="${SIIRTO_NODE_IP:-198.19.0.1}"
# The veth pair between host and namespace, on a /30 of their own.
POD_LINK_HOST="${SIIRTO_POD_LINK_HOST:-siirto-host}"
POD_LINK_NETNS="${SIIRTO_POD_LINK_NETNS:-siirto-pods0}"
POD_LINK_HOST_IP="${SIIRTO_POD_LINK_HOST_IP:-198.19.255.1}"
POD_LINK_NETNS_IP="${SIIRTO_POD_LINK_NETNS_IP:-198.19.255.2}"

# Search attributes the rollout workflows set; the dev server must know them before a workflow starts.
# SiirtoCluster tells apart the runs of clusters sharing one Temporal namespace.
TEMPORAL_SEARCH_ATTRIBUTES=(RolloutNamespace=Keyword RolloutName=Keyword RolloutRevision=Keyword RolloutPhase=Keyword RolloutStrategy=Keyword SiirtoCluster=Keyword SiirtoRelease=Keyword)

export GOTOOLCHAIN=local
export PATH="$BIN_DIR:$PATH"

# Messages about an extra cluster start with its name (LOG_PREFIX, set by use_cluster in clusters.sh).
log() { printf '[%s] %s%s\n' "$(date +%H:%M:%S)" "${LOG_PREFIX:-}" "$*"; }
die() { printf 'siirto stack: %s%s\n' "${LOG_PREFIX:-}" "$*" >&2; exit 1; }

# Temporal runs in one of two profiles. `dev` (the default): the Temporal CLI's dev server, one process
# with SQLite and one history shard, quick to start. `postgres`: the shape of a production cluster, the
# Temporal server's frontend, history, matching and worker services as separate processes on a
# PostgreSQL of the stack's own, with four history shards and SQL visibility, and the Web UI server
# apart. `stack:up -- --temporal=postgres` or SIIRTO_TEMPORAL_PROFILE=postgres chooses it.
TEMPORAL_PROFILES=(dev postgres)
TEMPORAL_DEV_COMPONENTS=(temporal)
TEMPORAL_POSTGRES_COMPONENTS=(postgres temporal-frontend temporal-history temporal-matching temporal-worker temporal-ui)
# The running stack's profile, written by up.sh.
TEMPORAL_PROFILE_FILE="$STATE_DIR/temporal-profile"

# The postgres profile's own ports. The frontend keeps TEMPORAL_PORT and the UI TEMPORAL_UI_PORT, as
# in the dev profile, so clients find it where they find the dev server.
TEMPORAL_POSTGRES_PORT="${SIIRTO_TEMPORAL_POSTGRES_PORT:-15432}"
# Each service's gRPC and membership ports, and the frontend's HTTP port, from this one on (8 ports).
TEMPORAL_SERVICES_PORT_BASE="${SIIRTO_TEMPORAL_SERVICES_PORT_BASE:-17240}"
TEMPORAL_FRONTEND_MEMBERSHIP_PORT=$TEMPORAL_SERVICES_PORT_BASE
TEMPORAL_FRONTEND_HTTP_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 1))
TEMPORAL_HISTORY_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 2))
TEMPORAL_HISTORY_MEMBERSHIP_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 3))
TEMPORAL_MATCHING_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 4))
TEMPORAL_MATCHING_MEMBERSHIP_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 5))
TEMPORAL_WORKER_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 6))
TEMPORAL_WORKER_MEMBERSHIP_PORT=$((TEMPORAL_SERVICES_PORT_BASE + 7))
TEMPORAL_HISTORY_SHARDS=4
# Debian's PostgreSQL 15 (apt package postgresql-15), which install.sh adds for the postgres profile.
POSTGRES_BIN_DIR="${SIIRTO_POSTGRES_BIN_DIR:-/usr/lib/postgresql/15/bin}"

# Whether a profile's Temporal processes run in this state directory.
temporal_profile_runs() {
  local name components
  if [ "$1" = postgres ]; then components=("${TEMPORAL_POSTGRES_COMPONENTS[@]}"); else components=("${TEMPORAL_DEV_COMPONENTS[@]}"); fi
  for name in "${components[@]}"; do
    if component_pid "$name" >/dev/null; then return 0; fi
  done
  return 1
}

# The profile asked for (SIIRTO_TEMPORAL_PROFILE, which up.sh sets from --temporal), else the running
# stack's, else dev.
temporal_profile() {
  local profile=${SIIRTO_TEMPORAL_PROFILE:-}
  if [ -z "$profile" ]; then
    if temporal_profile_runs postgres; then profile=postgres; else profile=dev; fi
  fi
  [[ " ${TEMPORAL_PROFILES[*]} " == *" $profile "* ]] ||
    die "unknown Temporal profile '$profile' (from --temporal or SIIRTO_TEMPORAL_PROFILE): choose dev or postgres"
  echo "$profile"
}

# The stack's processes, in start order, with Temporal's as the profile has them; down.sh stops them in
# reverse.
stack_components() {
  local temporal=("${TEMPORAL_DEV_COMPONENTS[@]}")
  [ "$1" = postgres ] && temporal=("${TEMPORAL_POSTGRES_COMPONENTS[@]}")
  echo etcd kube-apiserver kube-controller-manager kube-scheduler kwok pod-api-proxy pod-server traefik "${temporal[@]}" prometheus
}
# Every process either profile may have started, for stopping whatever runs.
ALL_STACK_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok pod-api-proxy pod-server traefik
  temporal "${TEMPORAL_POSTGRES_COMPONENTS[@]}" prometheus)

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

# Whether anything listens on a TCP port. `ss -ltn` sees every listener without privileges, while the
# owning process (`-p`) is visible only for one's own processes or as root.
port_in_use() {
  ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .
}

# Names the process listening on a port, as far as this user may see it.
port_holder() {
  local holder
  holder=$(ss -Hltnp "( sport = :$1 )" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n 1 |
    sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/\1 (pid \2)/')
  echo "${holder:-a process this user cannot see (sudo ss -ltnp 'sport = :$1' may name it)}"
}

# The commands the stack scripts use beyond coreutils, with the Debian package that ships each.
declare -A STACK_TOOL_PACKAGES=([ss]=iproute2 [ip]=iproute2 [flock]=util-linux [setsid]=util-linux [jq]=jq [openssl]=openssl [curl]=curl)

# Fails with one message naming every missing tool and how to install them all, so a fresh machine
# learns everything it lacks at once.
require_tools() {
  local tool missing=() packages=()
  for tool in ss ip flock setsid jq openssl curl; do
    command -v "$tool" >/dev/null 2>&1 && continue
    missing+=("$tool")
    [[ " ${packages[*]} " == *" ${STACK_TOOL_PACKAGES[$tool]} "* ]] || packages+=("${STACK_TOOL_PACKAGES[$tool]}")
  done
  [ ${#missing[@]} = 0 ] ||
    die "missing ${missing[*]}: on Debian or Ubuntu, sudo apt-get install ${packages[*]}"
}

# Describes the process whose pid a lock file holds, for messages about waiting on it.
lock_holder() {
  local pid
  pid=$(head -c 20 "$1" 2>/dev/null | tr -dc 0-9)
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ]; then
    echo "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c 1-100 | sed 's/ *$//'))"
  else
    echo "a process that left no pid"
  fi
}

# Holds an exclusive lock on a file until the script ends, waiting at most the given seconds for the
# process that has it and naming that process if it does not let go. Sets LOCK_FD so long-running
# children can be started without inheriting the lock.
hold_lock() {
  local file=$1 seconds=$2 purpose=$3
  # Opened without truncating, so the holder's pid stays readable while others wait.
  exec {LOCK_FD}<>"$file"
  if ! flock -n "$LOCK_FD"; then
    log "waiting up to ${seconds}s for $(lock_holder "$file"), which holds $file ($purpose)"
    flock -w "$seconds" "$LOCK_FD" ||
      die "$file is still held after ${seconds}s by $(lock_holder "$file") ($purpose). Let it finish, or stop it if it is stuck."
  fi
  echo $$ >"$file"
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

# shellcheck source=stack/clusters.sh
source "$STACK_SOURCE_DIR/clusters.sh"
