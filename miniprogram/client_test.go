// Package miniprogram holds the mini program and its client library; this Go
// file only lets `go test ./...` run the client's node tests, so that one
// command runs every test of the project.
package miniprogram

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNodeClient runs `node --test test/`: the client library driven against
// the real service in --dev mode (the node tests build and start it).
func TestNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed: CI must run the mini program tests")
		}
		t.Skip("node not found: skipping the mini program client tests (install Node.js 20 or newer)")
	}
	out, err := exec.Command(node, "-p", "process.versions.node.split('.')[0]").Output()
	if major, _ := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || major < 20 {
		t.Fatalf("node major version %q: the mini program tests need Node.js 20 or newer", out)
	}
	consultInputs(t)
	cmd := exec.Command(node, "--test", "test/")
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// consultInputs lists every directory holding a file the node tests depend
// on: the mini program's own, and the service's sources, which they build. go
// test caches a passing result keyed on the files the test itself consulted,
// and a directory it opened counts with the size and time of every entry;
// without this, an edit to a .js file (read only by node) still got
// "(cached)".
func consultInputs(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Git's files, node_modules, and ./data of a serve --dev run
			// from the repository root are no inputs.
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "data") {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing the tests' inputs: %v", err)
	}
}
