#!/usr/bin/env bash
# Runs Siirto on the local stack with embedded defaults: starts the stack, the worker and the bridge,
# applies the sample app and Rollout from examples/canary/, then rolls a new image out and shows it
# progressing step by step. Ctrl-C stops the worker and the bridge; `npm run stack:down` the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
bash stack/up.sh
eval "$(bash stack/env.sh)"
logs="$SIIRTO_STACK_LOG_DIR"

kubectl apply --server-side --force-conflicts -f deploy/crds/ >/dev/null
kubectl wait --for=condition=Established crd/rollouts.siirto.dev --timeout=30s >/dev/null

# The sample's namespace only, unless told otherwise: a bridge watching every namespace would also
# take up the Rollouts of a test run on the same stack.
export SIIRTO_WATCH_NAMESPACE=${SIIRTO_WATCH_NAMESPACE-shop}
node --import tsx worker/main.ts >>"$logs/siirto-worker.log" 2>&1 &
worker=$!
node --import tsx k8s-bridge/main.ts >>"$logs/siirto-bridge.log" 2>&1 &
bridge=$!
trap 'kill $worker $bridge 2>/dev/null; wait $worker $bridge 2>/dev/null; echo; echo "worker and bridge stopped; the stack keeps running (npm run stack:down)"' EXIT
echo "worker (pid $worker) and bridge (pid $bridge) started; logs in $logs/siirto-*.log"

kubectl apply -f examples/canary/app.yaml >/dev/null
kubectl apply -f examples/canary/rollout.yaml
show() {
  kubectl get rollout checkout -n shop --no-headers \
    -o custom-columns='PHASE:.status.phase,STEP:.status.step,STABLE:.status.weights.stable,CANARY:.status.weights.canary,REVISION:.status.revision,MESSAGE:.status.message'
}
# Healthy on the spec as it is now: the bridge has seen its latest generation, and the revision that
# generation started is done.
settled() {
  local generation observed phase
  read -r generation observed phase < <(kubectl get rollout checkout -n shop \
    -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.phase}' 2>/dev/null || true)
  [ -n "${generation:-}" ] && [ "$generation" = "${observed:-}" ] && [ "${phase:-}" = Healthy ]
}
wait_for_healthy() {
  local last="" line
  for _ in $(seq 600); do
    line=$(show 2>/dev/null || true)
    if [ "$line" != "$last" ]; then
      printf '  %s  %s\n' "$(date +%T)" "$line"
      last=$line
    fi
    if settled; then
      # The line read just before may predate the Healthy one.
      line=$(show 2>/dev/null || true)
      [ "$line" = "$last" ] || printf '  %s  %s\n' "$(date +%T)" "$line"
      return 0
    fi
    sleep 0.5
  done
  echo "the Rollout did not become Healthy; see $logs/siirto-*.log" >&2
  return 1
}

echo "phase / step / stable% / canary% / revision / message:"
wait_for_healthy
current=$(kubectl get rollout checkout -n shop -o jsonpath='{.spec.template.spec.containers[0].image}')
next="registry.example/checkout:$(date +%H%M%S)"
echo "rolling out $next (was $current):"
kubectl patch rollout checkout -n shop --type json \
  -p "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"$next\"}]" >/dev/null
wait_for_healthy || true
echo
echo "Done. The workflows are in the Temporal Web UI: $SIIRTO_TEMPORAL_UI_URL"
echo "Try: kubectl get rollouts -A;  temporal workflow list --query \"RolloutName = 'checkout'\""
echo "Press Ctrl-C to stop the worker and the bridge."
wait
