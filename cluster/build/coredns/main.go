// Command coredns is upstream CoreDNS with only the plugins the local
// cluster's Corefile uses: linking all of CoreDNS's plugins (cloud DNS
// providers and more) would triple the build for nothing we run.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// Keep CoreDNS's own plugin order, which the server needs at start-up.
	_ = dnsserver.Directives
}

func main() { coremain.Run() }
