# Temporal's postgres profile: a cluster shaped like a production one. PostgreSQL runs from a cluster
# in the stack's state directory (loopback and a Unix socket there only, no fsync); the Temporal
# server's frontend, history, matching and worker services run as four processes of one binary that
# find each other through the cluster membership table, with four history shards and SQL visibility on
# that PostgreSQL; the Web UI server runs apart. The frontend listens where the dev server would, so
# nothing else in the stack tells the profiles apart.
# Sourced by up.sh, whose launch, wait_until and http_ok it uses.
# shellcheck shell=bash

TEMPORAL_POSTGRES_DATA_DIR="$STATE_DIR/data/postgres"
# The server socket's directory: a short path, since a Unix socket's path is limited to 107 bytes.
TEMPORAL_POSTGRES_SOCKET_DIR="$STATE_DIR/postgres-socket"
TEMPORAL_POSTGRES_CONFIG_DIR="$STATE_DIR/temporal-postgres"
TEMPORAL_SERVICES=(frontend history matching worker)

# PostgreSQL refuses to run as root: then its programs run as Debian's `postgres` user, which owns the
# cluster's directories. A command prefix rather than a function, since launch runs it with setsid.
AS_POSTGRES=()
[ "$(id -u)" != 0 ] || AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups)

postgres_sql() {
  "$POSTGRES_BIN_DIR/psql" -h 127.0.0.1 -p "$TEMPORAL_POSTGRES_PORT" -U temporal -d "${2:-postgres}" -tAq -c "$1"
}

temporal_sql_tool() {
  temporal-sql-tool --plugin postgres12_pgx --endpoint 127.0.0.1 --port "$TEMPORAL_POSTGRES_PORT" --user temporal "$@"
}

start_postgres() {
  [ -x "$POSTGRES_BIN_DIR/postgres" ] || die "PostgreSQL is not installed in $POSTGRES_BIN_DIR: run npm run stack:install -- --temporal=postgres"
  mkdir -p "$TEMPORAL_POSTGRES_DATA_DIR" "$TEMPORAL_POSTGRES_SOCKET_DIR"
  chmod 700 "$TEMPORAL_POSTGRES_DATA_DIR"
  [ "$(id -u)" != 0 ] || chown postgres:postgres "$TEMPORAL_POSTGRES_DATA_DIR" "$TEMPORAL_POSTGRES_SOCKET_DIR"
  if [ ! -f "$TEMPORAL_POSTGRES_DATA_DIR/PG_VERSION" ]; then
    # Trust on loopback and the socket only: nothing else can reach this cluster.
    "${AS_POSTGRES[@]}" "$POSTGRES_BIN_DIR/initdb" -D "$TEMPORAL_POSTGRES_DATA_DIR" -U temporal --auth=trust \
      --encoding=UTF8 --locale=C --no-sync >>"$LOG_DIR/postgres.log" 2>&1 ||
      die "initdb failed; its output is in $LOG_DIR/postgres.log"
  fi
  # No fsync, no full-page writes, no synchronous commit: a crash may lose the stack's Temporal data,
  # which a test stack can afford for speed.
  launch postgres "$TEMPORAL_POSTGRES_PORT" "${AS_POSTGRES[@]}" "$POSTGRES_BIN_DIR/postgres" -D "$TEMPORAL_POSTGRES_DATA_DIR" \
    -c listen_addresses=127.0.0.1 -p "$TEMPORAL_POSTGRES_PORT" -c unix_socket_directories="$TEMPORAL_POSTGRES_SOCKET_DIR" \
    -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300 || true
  wait_until postgres 30 "$POSTGRES_BIN_DIR/pg_isready" -q -h 127.0.0.1 -p "$TEMPORAL_POSTGRES_PORT" -U temporal
}

# Creates each database with the schema's base version once, then brings it to the newest version the
# server's module ships: after a version bump, the next start migrates the kept data.
setup_temporal_schema() {
  local schema="$CACHE_DIR/share/temporal-schema-$TEMPORAL_SERVER_VERSION" database dir
  for database in temporal temporal_visibility; do
    dir=temporal
    [ "$database" = temporal_visibility ] && dir=visibility
    if [ -z "$(postgres_sql "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]; then
      temporal_sql_tool --database "$database" create-database >>"$LOG_DIR/postgres.log" 2>&1 &&
        temporal_sql_tool --database "$database" setup-schema -v 0.0 >>"$LOG_DIR/postgres.log" 2>&1 ||
        die "could not create Temporal's database $database; see $LOG_DIR/postgres.log"
    fi
    temporal_sql_tool --database "$database" update-schema -d "$schema/$dir/versioned" >>"$LOG_DIR/postgres.log" 2>&1 ||
      die "could not update Temporal's database $database to the schema of server $TEMPORAL_SERVER_VERSION; see $LOG_DIR/postgres.log"
  done
}

write_temporal_server_config() {
  mkdir -p "$TEMPORAL_POSTGRES_CONFIG_DIR/config"

  store() {
    cat <<EOF
      sql:
        pluginName: postgres12_pgx
        databaseName: $1
        connectAddr: 127.0.0.1:$TEMPORAL_POSTGRES_PORT
        connectProtocol: tcp
        user: temporal
        password: ""
        maxConns: $2
        maxIdleConns: $2
        maxConnLifetime: 1h
EOF
  }
  cat >"$TEMPORAL_POSTGRES_CONFIG_DIR/config/development.yaml" <<EOF
# Written by stack/up.sh for Temporal's postgres profile; rewritten at every start.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: $TEMPORAL_HISTORY_SHARDS
  datastores:
    default:
$(store temporal 20)
    visibility:
$(store temporal_visibility 5)
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:
    rpc:
      grpcPort: $TEMPORAL_PORT
      membershipPort: $TEMPORAL_FRONTEND_MEMBERSHIP_PORT
      httpPort: $TEMPORAL_FRONTEND_HTTP_PORT
      bindOnLocalHost: true
  history:
    rpc:
      grpcPort: $TEMPORAL_HISTORY_PORT
      membershipPort: $TEMPORAL_HISTORY_MEMBERSHIP_PORT
      bindOnLocalHost: true
  matching:
    rpc:
      grpcPort: $TEMPORAL_MATCHING_PORT
      membershipPort: $TEMPORAL_MATCHING_MEMBERSHIP_PORT
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: $TEMPORAL_WORKER_PORT
      membershipPort: $TEMPORAL_WORKER_MEMBERSHIP_PORT
      bindOnLocalHost: true
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:$TEMPORAL_PORT
      httpAddress: 127.0.0.1:$TEMPORAL_FRONTEND_HTTP_PORT
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: $TEMPORAL_POSTGRES_CONFIG_DIR/dynamicconfig.yaml
  pollInterval: 10s
EOF
  # The dev server's raised visibility limit, which the tests' listing of workflows by search attribute
  # needs, and eager activity execution, as stack/up.sh gives the dev server; every other setting keeps
  # the server's production default.
  cat >"$TEMPORAL_POSTGRES_CONFIG_DIR/dynamicconfig.yaml" <<EOF
frontend.namespaceRPS.visibility:
  - value: 100
system.enableActivityEagerExecution:
  - value: true
EOF
}

temporal_service_ports() {
  case $1 in
    frontend) echo "$TEMPORAL_PORT $TEMPORAL_FRONTEND_MEMBERSHIP_PORT $TEMPORAL_FRONTEND_HTTP_PORT" ;;
    history) echo "$TEMPORAL_HISTORY_PORT $TEMPORAL_HISTORY_MEMBERSHIP_PORT" ;;
    matching) echo "$TEMPORAL_MATCHING_PORT $TEMPORAL_MATCHING_MEMBERSHIP_PORT" ;;
    worker) echo "$TEMPORAL_WORKER_PORT $TEMPORAL_WORKER_MEMBERSHIP_PORT" ;;
  esac
}

launch_temporal_service() {
  launch "temporal-$1" "$(temporal_service_ports "$1")" temporal-server \
    --root "$TEMPORAL_POSTGRES_CONFIG_DIR" --config config --env development --allow-no-auth \
    start --service "$1" || true
}

cluster_metadata_written() { [ -n "$(postgres_sql 'SELECT 1 FROM cluster_metadata_info' temporal)" ]; }

# Every service writes the cluster's metadata record when the database has none, and on a new database
# all but the first to write it fail to start. So the frontend first, and the others once it is there.
launch_temporal_services() {
  local service
  launch_temporal_service frontend
  wait_until temporal-frontend 60 cluster_metadata_written
  for service in "${TEMPORAL_SERVICES[@]}"; do
    [ "$service" = frontend ] || launch_temporal_service "$service"
  done
}

# PostgreSQL and the schema first, then the four services, which need nothing else of the stack; they
# are waited for last while the rest starts.
launch_temporal_postgres() {
  start_postgres
  setup_temporal_schema
  write_temporal_server_config
  launch_temporal_services
}

temporal_cli() { timeout -k 1 10 temporal "$@" --address "127.0.0.1:$TEMPORAL_PORT"; }

# The frontend answers for itself; history and matching answer through it: describing a workflow that
# does not exist reaches a history shard's owner, describing a task queue reaches matching.
temporal_history_answers() {
  local answer
  answer=$(temporal_cli workflow describe --namespace temporal-system --workflow-id siirto-stack-probe 2>&1) && return 1
  grep -qi 'workflow not found' <<<"$answer"
}
temporal_matching_answers() { temporal_cli task-queue describe --namespace temporal-system --task-queue siirto-stack-probe >/dev/null 2>&1; }

wait_for_temporal_services() {
  wait_until temporal-frontend 60 temporal_cli operator cluster health
  wait_until temporal-history 60 temporal_history_answers
  wait_until temporal-matching 60 temporal_matching_answers
  component_pid temporal-worker >/dev/null || die "temporal-worker exited during start; its log is $LOG_DIR/temporal-worker.log"
}

# The `default` namespace and Siirto's search attributes, as the dev server has them at start. Returns
# 0 when it registered anything: the services cache both (search attributes for 60 s), so they are
# restarted then to see them at once.
register_temporal_namespace() {
  local registered=1 attribute existing
  if ! temporal_cli operator namespace describe --namespace default >/dev/null 2>&1; then
    temporal_cli operator namespace create --namespace default --retention 72h >/dev/null ||
      die "could not create Temporal's default namespace"
    registered=0
  fi
  # A new namespace reaches the frontend's namespace cache within its refresh interval, seconds later.
  wait_until temporal-frontend 30 temporal_cli operator search-attribute list --namespace default
  existing=$(temporal_cli operator search-attribute list --namespace default -o json) ||
    die "could not list the search attributes of Temporal's default namespace"
  for attribute in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do
    jq -e --arg name "${attribute%%=*}" '.. | objects | select(has($name))' <<<"$existing" >/dev/null && continue
    temporal_cli operator search-attribute create --namespace default --name "${attribute%%=*}" \
      --type "${attribute#*=}" >/dev/null || die "could not create the search attribute ${attribute%%=*}"
    registered=0
  done
  return $registered
}

write_temporal_ui_config() {
  mkdir -p "$TEMPORAL_POSTGRES_CONFIG_DIR/ui/config"
  cat >"$TEMPORAL_POSTGRES_CONFIG_DIR/ui/config/development.yaml" <<EOF
# Written by stack/up.sh for Temporal's postgres profile; rewritten at every start.
temporalGrpcAddress: 127.0.0.1:$TEMPORAL_PORT
host: 127.0.0.1
port: $TEMPORAL_UI_PORT
enableUi: true
defaultNamespace: default
showTemporalSystemNamespace: false
notifyOnNewVersion: false
refreshInterval: 1m
EOF
}

wait_for_temporal_postgres() {
  wait_for_temporal_services
  if register_temporal_namespace; then
    log "registered Temporal's default namespace and search attributes; restarting its services to load them"
    local service
    for service in "${TEMPORAL_SERVICES[@]}"; do stop_component "temporal-$service"; done
    launch_temporal_services
    wait_for_temporal_services
  fi
  write_temporal_ui_config
  launch temporal-ui "$TEMPORAL_UI_PORT" temporal-ui-server --root "$TEMPORAL_POSTGRES_CONFIG_DIR/ui" \
    --config config --env development start || true
  wait_until temporal-ui 30 http_ok "http://127.0.0.1:$TEMPORAL_UI_PORT/"
}
