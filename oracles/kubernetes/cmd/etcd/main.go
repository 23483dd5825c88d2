// Command etcd is the etcd server at the version k8s.io/kubernetes pins, built in the same
// module so that the control plane's storage matches the release it was tested with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
