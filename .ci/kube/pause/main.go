// The sandbox ("pause") process of the local cluster's real node: it holds a
// pod's namespaces until it is told to stop. Our own, because no image can be
// pulled here; .ci/kube-build builds it static and packs it as a one-file
// image (FROM scratch) that .ci/kube-up imports into the node's containerd.
// Like upstream's pause it reaps the zombies of a pod sharing its process
// namespace (it is PID 1 there) and exits 0 on SIGINT or SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("xtask pause 1\n")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
