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
	"go.yaml.in/yaml/v3":                       "reads openapi.yaml and the Kubernetes examples",
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
