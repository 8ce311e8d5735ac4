#!/usr/bin/env bash
# Puts Argo Rollouts' CRDs into the local stack's cluster, or takes them out again, to run Siirto as a
# cluster migrating from Argo Rollouts has it: `rollouts.argoproj.io` (short name ro) beside
# `rollouts.siirto.dev` (sro), Argo's analysistemplates and clusteranalysistemplates beside Siirto's.
# Only the CRDs, from Argo Rollouts' Go module at ARGO_ROLLOUTS_VERSION; no Argo controller runs.
# Usage: bash stack/argo-rollouts-crds.sh install|remove|status [KUBECONFIG]
# `status` exits 0 when they are installed. KUBECONFIG names another cluster than the stack's (the
# tests' second cluster). SIIRTO_STACK_ARGO_ROLLOUTS_CRDS=1 makes the test run install them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CRD_DIR="$CACHE_DIR/share/argo-rollouts-crds-$ARGO_ROLLOUTS_VERSION"
CRD_NAMES=(rollouts analysisruns analysistemplates clusteranalysistemplates experiments)

TARGET_KUBECONFIG="${2:-$KUBECONFIG_FILE}"
kubectl_admin() { kubectl --kubeconfig "$TARGET_KUBECONFIG" --request-timeout=30s "$@"; }

# The module's manifests/crds/ holds the CRDs and a kustomization; only the CRDs are copied.
fetch_crds() {
  [ -f "$CRD_DIR/.complete" ] && return
  command -v go >/dev/null || die "Go is required to fetch Argo Rollouts' CRDs from its module; none found on PATH."
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION" | jq -r .Dir)
  [ -d "$dir/manifests/crds" ] || die "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION has no manifests/crds/"
  rm -rf "$CRD_DIR" && mkdir -p "$CRD_DIR"
  cp "$dir"/manifests/crds/*-crd.yaml "$CRD_DIR/"
  chmod 644 "$CRD_DIR"/*.yaml
  touch "$CRD_DIR/.complete"
}

case "${1:-}" in
  install)
    fetch_crds
    kubectl_admin apply --server-side --force-conflicts -f "$CRD_DIR" >/dev/null
    for name in "${CRD_NAMES[@]}"; do
      # Polled: `kubectl wait` fails outright on a CRD whose status has no conditions yet.
      for _ in $(seq 60); do
        # A CRD without conditions yet makes the filter fail loudly: that only means not yet.
        [ "$(kubectl_admin get "crd/$name.argoproj.io" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" = True ] && break
        sleep 0.5
      done
      [ "$(kubectl_admin get "crd/$name.argoproj.io" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ] ||
        die "crd/$name.argoproj.io was not Established within 30 s"
    done
    # kubectl caches the resource names it discovered; `explain ro` would not see the new ones.
    kubectl_admin api-resources >/dev/null
    log "Argo Rollouts $ARGO_ROLLOUTS_VERSION CRDs installed: kubectl get ro now means rollouts.argoproj.io"
    ;;
  remove)
    for name in "${CRD_NAMES[@]}"; do
      kubectl_admin delete --ignore-not-found --wait=true "crd/$name.argoproj.io" >/dev/null
    done
    kubectl_admin api-resources >/dev/null
    log "Argo Rollouts CRDs removed"
    ;;
  status)
    kubectl_admin get "crd/rollouts.argoproj.io" >/dev/null 2>&1
    ;;
  *)
    die "usage: bash stack/argo-rollouts-crds.sh install|remove|status"
    ;;
esac
