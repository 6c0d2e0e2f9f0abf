// CoreDNS for the local cluster's real node (.ci/kube-build, docs/explanation/local-cluster.md):
// upstream's coremain with only the plugins the node's Corefile uses, so the
// build needs none of the cloud back-ends (route53, azure, clouddns, ...) that
// upstream's all-plugins main links in. The version is pinned in go.mod.
// There is no forward plugin on purpose: a pod's DNS traffic stays on the
// machine (cluster names are answered, anything else is refused).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
