// Command etcd is upstream etcd's server, built from the Go module proxy.
// `go install go.etcd.io/etcd/server/v3` is refused because etcd's go.mod has
// replace directives, so this wrapper module imports its entry point instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
