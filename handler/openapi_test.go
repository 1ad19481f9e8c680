package handler

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestRoutesMatchOpenAPI keeps openapi.yaml and addRoutes in step: a route
// registered without being described, or described without being
// registered, fails here. What each route answers is checked against the
// document by cmd/wxavatar's TestOpenAPIContract.
func TestRoutesMatchOpenAPI(t *testing.T) {
	spec, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}

	// Echo writes a path parameter as :id, OpenAPI as {id}.
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	var registered []string
	for _, r := range newTestAPI(t, withPush(t)).e.Routes() {
		registered = append(registered, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}

	slices.Sort(documented)
	slices.Sort(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is registered but not described in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.yaml describes %s, which is not registered", d)
		}
	}
	if len(registered) != len(slices.Compact(slices.Clone(registered))) {
		t.Errorf("a route is registered twice: %v", registered)
	}
	if len(registered) == 0 {
		t.Error("no routes registered")
	}
}
