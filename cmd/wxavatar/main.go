// Command wxavatar is the service that keeps a WeChat mini program user's
// avatar and nickname: `wxavatar serve` runs it, `wxavatar serve --dev` runs
// it on one machine with no cloud account.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// is set.
const defaultMemoryLimit = 20 << 20

func main() {
	// The live heap of this service is a few MiB, yet under load the
	// default pacing lets it swell to several times that between
	// collections. A soft limit keeps the footprint small; GOMEMLIMIT (read
	// by the Go runtime itself) overrides it. Set here, not in run, which
	// the tests call in one process many times.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "wxavatar:", line)
		}
		if _, ok := errors.AsType[configError](err); ok {
			fmt.Fprintln(os.Stderr, "wxavatar: every setting is described in .env.example and the README's Configuration table")
		}
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
