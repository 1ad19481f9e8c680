// Command wxavatar is the service that keeps a WeChat mini program user's
// avatar and nickname: `wxavatar serve` runs it, `wxavatar serve --dev` runs
// it on one machine with no cloud account.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

func main() {
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
