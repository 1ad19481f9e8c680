// Command wxavatar is the service that keeps a WeChat mini program user's
// avatar and nickname: `wxavatar serve` runs it, `wxavatar serve --dev` runs
// it on one machine with no cloud account.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wxavatar:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
