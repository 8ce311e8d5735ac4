#!/usr/bin/env bash
# Installs every component of Siirto's local stack, pinned and cached under $SIIRTO_CACHE_DIR
# (default ~/.cache/siirto). Components already built at their pinned version are skipped, so a
# second run takes seconds. Every component is built from its Go module.
# With --quiet it prints only what it builds or installs, for callers that go on to start the stack.
# The postgres Temporal profile's parts (PostgreSQL, the Temporal server, its SQL tool and the Web UI
# server) are installed only when that profile is asked for: --temporal=postgres, or
# SIIRTO_TEMPORAL_PROFILE=postgres. Warm, they take 3 minutes to build; cold, about 10 more on two cores.
set -euo pipefail
quiet=0
for argument in "$@"; do
  case $argument in
    --quiet) quiet=1 ;;
    --temporal=*) export SIIRTO_TEMPORAL_PROFILE=${argument#--temporal=} ;;
    *) printf 'siirto stack: unknown option %s (--quiet, --temporal=dev|postgres)\n' "$argument" >&2 && exit 2 ;;
  esac
done
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$BIN_DIR" "$STAMP_DIR" "$CACHE_DIR/build" "$CACHE_DIR/share"
GO_BUILD_LOG_DIR="$CACHE_DIR/build/logs"
mkdir -p "$GO_BUILD_LOG_DIR"

command -v go >/dev/null || die "Go is required to build the stack (https://go.dev/doc/install); none found on PATH."
require_tools
# Two installs at once would build into the same directories; a cold build takes about 20 minutes, so a
# second install (a test run's stack:up, say) waits that long for the first and says whom it waits for.
hold_lock "$CACHE_DIR/install.lock" "${SIIRTO_INSTALL_LOCK_WAIT:-2400}" "another stack install building into $CACHE_DIR"

# Runs a long command with its output in a log, printing a line every 30 s so a cold build shows life.
run_with_progress() {
  local label=$1 logfile=$2
  shift 2
  local started=$SECONDS
  "$@" >"$logfile" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do
      sleep 1
      kill -0 "$pid" 2>/dev/null || break
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "  … $label: $((SECONDS - started))s, $(wc -l <"$logfile") packages so far"
    fi
  done
  if ! wait "$pid"; then
    tail -n 30 "$logfile" >&2
    die "$label failed; the full log is $logfile"
  fi
}

# Builds one component unless its stamp says this version is already in $BIN_DIR.
component() {
  local name=$1 version=$2 builder=$3
  shift 3
  local stamp="$STAMP_DIR/$name-$version"
  local binary missing=0
  for binary in "$@"; do [ -e "$BIN_DIR/$binary" ] || missing=1; done
  if [ -f "$stamp" ] && [ $missing = 0 ]; then
    [ $quiet = 1 ] || log "✓ $name $version (cached)"
    return
  fi
  log "→ $name $version: building"
  local started=$SECONDS
  "$builder" "$version"
  touch "$stamp"
  log "✓ $name $version built in $((SECONDS - started))s"
}

go_install() {
  local label=$1 package=$2
  shift 2
  local gobin="$CACHE_DIR/build/gobin-$label"
  rm -rf "$gobin"
  GOBIN="$gobin" run_with_progress "$label" "$GO_BUILD_LOG_DIR/$label.log" go install -v "$@" "$package"
  mv "$gobin"/* "$BIN_DIR/"
  rm -rf "$gobin"
}

build_temporal() { go_install temporal "github.com/temporalio/cli/cmd/temporal@$1"; }
build_tctl() { go_install tctl "github.com/temporalio/tctl/cmd/tctl@$1"; }

# tctl as the Temporal server's module shipped it (cmd/tools/cli). Its old golang.org/x/net reaches
# into the runtime in a way Go 1.23+ links only with the older linkname rules.
build_tctl_from_server() {
  local gobin="$CACHE_DIR/build/gobin-tctl"
  rm -rf "$gobin"
  GOBIN="$gobin" run_with_progress "tctl (Temporal server $1)" "$GO_BUILD_LOG_DIR/tctl.log" \
    go install -v -ldflags=-checklinkname=0 "go.temporal.io/server/cmd/tools/cli@$1"
  mv "$gobin/cli" "$BIN_DIR/tctl"
  rm -rf "$gobin"
}

build_kwok() { go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$1"; }

# kwok does nothing without stages: these make fake nodes Ready and keep their leases, and finish and
# delete pods. How pods start and become Ready is the stack's own (config/kwok-pod-stages.yaml).
build_kwok_stages() {
  local dir
  dir=$(go mod download -json "sigs.k8s.io/kwok@$1" | jq -r .Dir)
  local stages="$CACHE_DIR/share/kwok-node-stages-$1.yaml"
  : >"$stages"
  local stage
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-complete pod/fast/pod-delete; do
    local file="$dir/kustomize/stage/$stage.yaml"
    [ -f "$file" ] || die "kwok $1 has no stage $stage under kustomize/stage"
    { echo "---"; cat "$file"; } >>"$stages"
  done
  touch "$BIN_DIR/.kwok-stages-$1"
}

# Traefik, the gateway, from its module: its go.mod has replace directives, which `go install` refuses,
# so it is built in a writable copy of the module's own directory (about 15 minutes on two cores).
build_traefik() {
  local source workdir="$CACHE_DIR/build/traefik-$1"
  source=$(go mod download -json "github.com/traefik/traefik/v3@$1" | jq -r .Dir)
  rm -rf "$workdir" && cp -r "$source" "$workdir" && chmod -R u+w "$workdir"
  (cd "$workdir" && run_with_progress traefik "$GO_BUILD_LOG_DIR/traefik.log" \
    env CGO_ENABLED=0 go build -v -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$1" \
    -o "$BIN_DIR/traefik" ./cmd/traefik)
  rm -rf "$workdir"
}

# Prometheus from its module, with Kubernetes service discovery: Debian's package is built without it.
# Every other discovery plugin is left out (remove_all_sd), which spares most of the build.
build_prometheus() {
  go_install prometheus "github.com/prometheus/prometheus/cmd/prometheus@$1" -tags remove_all_sd,enable_kubernetes_sd
}

# Builds inside a copy of the committed wrapper module so the repository's go.sum stays untouched.
wrapper_build() {
  local wrapper=$1 version=$2
  shift 2
  local workdir="$CACHE_DIR/build/$wrapper-$version"
  mkdir -p "$workdir"
  cp "$STACK_SOURCE_DIR/go/$wrapper/go.mod" "$workdir/go.mod"
  [ -f "$STACK_SOURCE_DIR/go/$wrapper/go.sum" ] && cp "$STACK_SOURCE_DIR/go/$wrapper/go.sum" "$workdir/go.sum"
  (cd "$workdir" && "$@")
}

build_etcd() {
  wrapper_build etcd "$1" run_with_progress etcd "$GO_BUILD_LOG_DIR/etcd.log" \
    env CGO_ENABLED=0 go build -mod=mod -v -o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
  local version=$1 minor
  minor=$(echo "$version" | cut -d. -f2)
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  local cmd
  # One binary at a time: each link needs about 2 GiB and the machine may have only two cores.
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    wrapper_build kubernetes "$version" run_with_progress "$cmd" "$GO_BUILD_LOG_DIR/$cmd.log" \
      env CGO_ENABLED=0 go build -mod=mod -v -ldflags "$ldflags" -o "$BIN_DIR/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  done
}

build_gateway_api() {
  local dir target="$CACHE_DIR/share/gateway-api-$1"
  dir=$(go mod download -json "sigs.k8s.io/gateway-api@$1" | jq -r .Dir)
  rm -rf "$target" && mkdir -p "$target"
  # The standard channel's CRDs only; anything else in that folder (policies) is not a CRD.
  grep -l '^kind: CustomResourceDefinition' "$dir"/config/crd/standard/*.yaml | xargs -I{} cp {} "$target/"
  chmod 644 "$target"/*.yaml
  touch "$BIN_DIR/.gateway-api-$1"
}

# The Temporal server's services in one binary, and its SQL schema tool, from the server's module.
build_temporal_server() {
  local gobin="$CACHE_DIR/build/gobin-temporal-server"
  rm -rf "$gobin"
  GOBIN="$gobin" run_with_progress "temporal-server" "$GO_BUILD_LOG_DIR/temporal-server.log" \
    go install -v "go.temporal.io/server/cmd/server@$1"
  GOBIN="$gobin" run_with_progress "temporal-sql-tool" "$GO_BUILD_LOG_DIR/temporal-sql-tool.log" \
    go install -v "go.temporal.io/server/cmd/tools/sql@$1"
  mv "$gobin/server" "$BIN_DIR/temporal-server"
  mv "$gobin/sql" "$BIN_DIR/temporal-sql-tool"
  rm -rf "$gobin"
}

# The PostgreSQL schemas of the same server version, which temporal-sql-tool applies at start.
build_temporal_schema() {
  local dir target="$CACHE_DIR/share/temporal-schema-$1"
  dir=$(go mod download -json "go.temporal.io/server@$1" | jq -r .Dir)
  [ -d "$dir/schema/postgresql/v12/temporal/versioned" ] || die "the Temporal server $1 module has no schema/postgresql/v12"
  rm -rf "$target" && mkdir -p "$target"
  cp -r "$dir/schema/postgresql/v12/temporal" "$dir/schema/postgresql/v12/visibility" "$target/"
  chmod -R u+w "$target"
  touch "$BIN_DIR/.temporal-schema-$1"
}

# The Web UI server, with the UI's assets embedded in its binary.
build_temporal_ui_server() {
  local gobin="$CACHE_DIR/build/gobin-temporal-ui-server"
  rm -rf "$gobin"
  GOBIN="$gobin" run_with_progress "temporal-ui-server" "$GO_BUILD_LOG_DIR/temporal-ui-server.log" \
    go install -v "github.com/temporalio/ui-server/v2/cmd/server@$1"
  mv "$gobin/server" "$BIN_DIR/temporal-ui-server"
  rm -rf "$gobin"
}

# Debian's PostgreSQL 15, without the cluster it would start: the stack makes its own in its state
# directory.
install_postgres() {
  [ -x "$POSTGRES_BIN_DIR/postgres" ] && return
  [ "$(id -u)" = 0 ] ||
    die "PostgreSQL 15 is missing for the postgres Temporal profile: sudo apt-get install --no-install-recommends postgresql-15"
  command -v apt-get >/dev/null ||
    die "PostgreSQL 15 is missing for the postgres Temporal profile, and this is no Debian or Ubuntu: install it and set SIIRTO_POSTGRES_BIN_DIR to its bin directory"
  log "→ postgresql-15: installing with apt-get"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  [ -x "$POSTGRES_BIN_DIR/postgres" ] || die "postgresql-15 was installed but $POSTGRES_BIN_DIR/postgres is missing"
  log "✓ postgresql-15 installed"
}

started=$SECONDS
component prometheus "$PROMETHEUS_VERSION" build_prometheus prometheus
component gateway-api "$GATEWAY_API_VERSION" build_gateway_api .gateway-api-"$GATEWAY_API_VERSION"
component kwok "$KWOK_VERSION" build_kwok kwok
component kwok-stages "$KWOK_VERSION" build_kwok_stages .kwok-stages-"$KWOK_VERSION"
# tctl is the legacy CLI some users still signal with. Not every module proxy serves its own module;
# then tctl comes from the Temporal server's module instead. Only the proxy's refusal of that version
# is remembered (delete the .unavailable stamp to ask again); any other failure, a network error say,
# falls back for now and tries tctl's own module again on the next install, which costs one failed
# fetch while the fallback stays cached. The stack runs without tctl, but the tests that drive it fail.
tctl_unavailable="$STAMP_DIR/tctl-$TCTL_VERSION.unavailable"
tctl_fallback=0
if [ -f "$tctl_unavailable" ]; then
  tctl_fallback=1
elif ! (component tctl "$TCTL_VERSION" build_tctl tctl); then
  tctl_fallback=1
  if grep -q -E "github.com/temporalio/tctl.*: (403 Forbidden|404 Not Found|410 Gone)" "$GO_BUILD_LOG_DIR/tctl.log"; then
    touch "$tctl_unavailable"
    log "! tctl $TCTL_VERSION is not served by the module proxy (remembered in $tctl_unavailable); building tctl from the Temporal server $TCTL_FROM_SERVER_VERSION module instead"
  else
    log "! tctl $TCTL_VERSION could not be built (see above; the next install tries again); using tctl from the Temporal server $TCTL_FROM_SERVER_VERSION module meanwhile"
  fi
fi
if [ $tctl_fallback = 1 ] &&
  ! (component tctl-from-server "$TCTL_FROM_SERVER_VERSION" build_tctl_from_server tctl); then
  log "! tctl could not be built (see above); the stack runs without it, the tests that use tctl fail"
fi
component temporal "$TEMPORAL_CLI_VERSION" build_temporal temporal
component etcd "$ETCD_VERSION" build_etcd etcd
component kubernetes "$KUBERNETES_VERSION" build_kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl
component traefik "$TRAEFIK_VERSION" build_traefik traefik
if [ "$(temporal_profile)" = postgres ]; then
  install_postgres
  component temporal-server "$TEMPORAL_SERVER_VERSION" build_temporal_server temporal-server temporal-sql-tool
  component temporal-schema "$TEMPORAL_SERVER_VERSION" build_temporal_schema .temporal-schema-"$TEMPORAL_SERVER_VERSION"
  component temporal-ui-server "$TEMPORAL_UI_SERVER_VERSION" build_temporal_ui_server temporal-ui-server
fi
log "stack installed in $((SECONDS - started))s; binaries in $BIN_DIR"
