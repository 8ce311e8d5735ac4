# The pods' network: a network namespace of the stack's own, joined to this host by a veth pair, with
# the pod range routed into it. Inside, every address of the range is local (an "AnyIP" route), so the
# pod server answers at any pod's IP without adding an address per pod; kwok hands pods those IPs, the
# apiserver accepts them in EndpointSlices, and Traefik and Prometheus reach them over the veth.
# Sourced by up.sh and down.sh.
# shellcheck shell=bash

# The whole name: another cluster's namespace (siirto-pods-c2) begins with this one's.
pod_netns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$POD_NETNS"; }

# Idempotent: each piece is made only if it is missing, so a second stack:up leaves a working
# network alone and mends a half-made one.
pod_network_up() {
  [ "$(id -u)" = 0 ] ||
    die "the pods' network namespace needs root (ip netns add $POD_NETNS): run the stack as root, or with sudo"
  pod_netns_exists || ip netns add "$POD_NETNS"
  ip -n "$POD_NETNS" link set lo up
  if ! ip link show "$POD_LINK_HOST" >/dev/null 2>&1; then
    ip link add "$POD_LINK_HOST" type veth peer name "$POD_LINK_NETNS" netns "$POD_NETNS"
  fi
  ip addr replace "$POD_LINK_HOST_IP/30" dev "$POD_LINK_HOST"
  ip link set "$POD_LINK_HOST" up
  ip -n "$POD_NETNS" addr replace "$POD_LINK_NETNS_IP/30" dev "$POD_LINK_NETNS"
  ip -n "$POD_NETNS" link set "$POD_LINK_NETNS" up
  ip -n "$POD_NETNS" route replace default via "$POD_LINK_HOST_IP"
  ip -n "$POD_NETNS" route replace local "$POD_CIDR" dev lo
  ip route replace "$POD_CIDR" via "$POD_LINK_NETNS_IP" dev "$POD_LINK_HOST"
  ip route replace "$NODE_IP/32" via "$POD_LINK_NETNS_IP" dev "$POD_LINK_HOST"
}

# Removing the namespace removes its end of the veth pair, the host's end, and the routes through it.
pod_network_down() {
  if pod_netns_exists; then
    ip netns delete "$POD_NETNS"
    log "removed the pods' network namespace $POD_NETNS"
  fi
  ip link delete "$POD_LINK_HOST" 2>/dev/null || true
}
