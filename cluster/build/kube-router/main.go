// Command kube-router is upstream kube-router, used by the local cluster only
// as its NetworkPolicy engine (--run-firewall). It follows kube-router's own
// cmd/kube-router main; a wrapper module is needed because the module proxy
// here serves kube-router v2.1.0 but not its version list, so `go install`
// cannot resolve it (see cluster/README.md).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/cloudnativelabs/kube-router/v2/pkg/version"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

func main() {
	klog.InitFlags(nil)
	config := options.NewKubeRouterConfig()
	config.AddFlags(pflag.CommandLine)
	pflag.Parse()
	_ = flag.Set("logtostderr", "true")
	_ = flag.Set("v", config.VLevel)
	if config.Version {
		version.PrintVersion(false)
		return
	}
	kubeRouter, err := cmd.NewKubeRouterDefault(config)
	if err == nil {
		err = kubeRouter.Run()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-router: %v\n", err)
		os.Exit(1)
	}
}
