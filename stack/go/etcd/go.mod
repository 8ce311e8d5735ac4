// Wrapper module for building etcd from go.etcd.io/etcd/server/v3, whose own go.mod carries replaces.
module siirto.dev/stack/etcd

go 1.24

require go.etcd.io/etcd/server/v3 v3.6.16
