# Certificates and kubeconfigs for the local control plane. Sourced by up.sh; made once per state
# directory and reused, so kubeconfigs handed out earlier stay valid across restarts.
# shellcheck shell=bash

PKI_DIR="$STATE_DIR/pki"

issue_certificate() {
  local name=$1 subject=$2 extensions=${3:-}
  [ -f "$PKI_DIR/$name.crt" ] && return
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI_DIR/$name.key" -subj "$subject" -out "$PKI_DIR/$name.csr" 2>/dev/null
  local extfile="$PKI_DIR/$name.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$extensions" >"$extfile"
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" -CAcreateserial \
    -days 3650 -extfile "$extfile" -out "$PKI_DIR/$name.crt" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$extfile"
}

write_kubeconfig() {
  local file=$1 user=$2
  # c1 keeps the name it always had; an extra cluster's names tell it apart in a merged kubeconfig.
  local name=siirto-local${CLUSTER_PREFIX:+-$CLUSTER}
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: $name
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority: $PKI_DIR/ca.crt
users:
  - name: $user
    user:
      client-certificate: $PKI_DIR/$user.crt
      client-key: $PKI_DIR/$user.key
contexts:
  - name: $name
    context:
      cluster: $name
      user: $user
current-context: $name
EOF
}

ensure_pki() {
  mkdir -p "$PKI_DIR"
  if [ ! -f "$PKI_DIR/ca.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -keyout "$PKI_DIR/ca.key" -subj "/CN=siirto-local-ca" -out "$PKI_DIR/ca.crt" 2>/dev/null
  fi
  if [ ! -f "$PKI_DIR/service-accounts.key" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/service-accounts.key"
    openssl ec -in "$PKI_DIR/service-accounts.key" -pubout -out "$PKI_DIR/service-accounts.pub" 2>/dev/null
  fi
  issue_certificate kube-apiserver "/CN=kube-apiserver" \
    "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # Each component gets its own identity so RBAC sees what a real cluster's components would be.
  issue_certificate admin "/O=system:masters/CN=siirto-admin" "extendedKeyUsage=clientAuth"
  issue_certificate kube-controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  issue_certificate kube-scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
  issue_certificate kwok "/O=system:masters/CN=kwok" "extendedKeyUsage=clientAuth"
  write_cluster_kubeconfigs
}

# The kubeconfigs of the cluster use_cluster (clusters.sh) chose: every cluster of the stack trusts the
# one CA, and the apiserver's certificate names 127.0.0.1, so only the port differs.
write_cluster_kubeconfigs() {
  mkdir -p "$CLUSTER_DIR"
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$CLUSTER_DIR/kube-controller-manager.kubeconfig" kube-controller-manager
  write_kubeconfig "$CLUSTER_DIR/kube-scheduler.kubeconfig" kube-scheduler
  write_kubeconfig "$CLUSTER_DIR/kwok.kubeconfig" kwok
}
