package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// testOnlyModules are the modules the tests build beyond the service's own,
// each with why it earns its compile time: a cold `go test ./...` on two
// cores must stay within minutes, and one test-only library
// (libopenapi-validator's tree) once cost more CPU to compile than all the
// rest of the suite together.
var testOnlyModules = map[string]string{
	"github.com/santhosh-tekuri/jsonschema/v6": "JSON Schema 2020-12 for the contract test (openapi.yaml is OpenAPI 3.1)",
}

// TestTestOnlyModules fails when the tests start to need a module the service
// does not, until it is weighed and listed above.
func TestTestOnlyModules(t *testing.T) {
	list := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}"}, args...)...)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
		}
		mods := strings.Fields(string(out))
		slices.Sort(mods)
		return slices.Compact(mods)
	}
	service := list("./cmd/wxavatar")
	for _, m := range list("-test", "./...") {
		if !slices.Contains(service, m) && testOnlyModules[m] == "" {
			t.Errorf("the tests need %s, which the service does not: weigh its cold compile time, then list it in testOnlyModules", m)
		}
	}
	for m := range testOnlyModules {
		if slices.Contains(service, m) {
			t.Errorf("%s is listed as test-only, but the service needs it", m)
		}
	}
}

// TestPackageBoundaries holds the packages to the shape README.md's
// "Architecture" draws: data flows handler → avatar → the interfaces that db
// and the storage providers' clients implement, wired here in cmd. Each package lists the
// packages of this module its non-test code may import; only handler knows
// Echo.
func TestPackageBoundaries(t *testing.T) {
	const mod = "github.com/wxavatar/wxavatar/"
	allowed := map[string][]string{
		"handler":     {"avatar", "auth", "wechat", "internal/jsonx"},
		"avatar":      {},
		"auth":        {"internal/netfail"},
		"db":          {"avatar"},
		"storage":     {},
		"storage/cos": {"storage", "internal/jsonx"},
		"storage/oss": {"storage", "internal/jsonx"},
		"storage/s3":  {"storage"},
		"localcos":    {},
		"wechat":      {"internal/netfail"},
	}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`,
		"./handler", "./avatar", "./auth", "./db", "./storage", "./storage/cos", "./storage/oss", "./storage/s3", "./localcos", "./wechat")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		want, ok := allowed[pkg]
		if !ok {
			t.Fatalf("go list named %s", fields[0])
		}
		seen++
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "github.com/labstack/echo") && pkg != "handler" {
				t.Errorf("%s imports %s: only handler knows Echo", pkg, imp)
			}
			if own, ok := strings.CutPrefix(imp, mod); ok && !slices.Contains(want, own) {
				t.Errorf("%s imports %s; it may import only %v of this module", pkg, own, want)
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("go list answered for %d packages; want %d", seen, len(allowed))
	}
}
