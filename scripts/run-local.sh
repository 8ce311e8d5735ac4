#!/usr/bin/env bash
# Runs Siirto on the local stack with embedded defaults: starts the stack, the worker and the bridge,
# applies the sample app and Rollout from examples/canary/, then rolls a new image out and shows it
# progressing step by step, with a load through the gateway and the share each version answered. Ctrl-C stops the worker and the bridge; `npm run stack:down` the stack.
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
# Follows the Rollout with a load through the gateway, printing each status change and the share of
# requests each version answered, until it is Healthy on its current spec.
follow() {
  node --import tsx scripts/follow-rollout.ts --namespace shop --name checkout \
    --url "$SIIRTO_GATEWAY_URL" --host checkout.shop.example ||
    { echo "the Rollout did not become Healthy; see $logs/siirto-*.log" >&2; return 1; }
}

echo "phase / step / stable% / canary% / revision / message, and the traffic each version answered:"
follow
current=$(kubectl get rollouts.siirto.dev checkout -n shop -o jsonpath='{.spec.template.spec.containers[0].image}')
next="registry.example/checkout:$(date +%H%M%S)"
echo "rolling out $next (was $current):"
kubectl patch rollouts.siirto.dev checkout -n shop --type json \
  -p "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"$next\"}]" >/dev/null
follow || true
echo
echo "Done. The workflows are in the Temporal Web UI: $SIIRTO_TEMPORAL_UI_URL"
echo "Try: kubectl get sro -A;  temporal workflow list --query \"RolloutName = 'checkout'\""
echo "Press Ctrl-C to stop the worker and the bridge."
wait
