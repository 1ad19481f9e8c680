// Command vulndb builds a local Go vulnerability database for govulncheck
// from the golang.org/x/vulndb module, for machines that reach the Go module
// proxy but not vuln.go.dev. It writes the v1 layout govulncheck reads with
// -db file://DIR: index/db.json, index/modules.json, index/vulns.json and
// ID/<id>.json. Written by hand because no published tool does this
// conversion; it copies the OSV entries unchanged.
//
// Entries listed in an exceptions file (one ID per line, "#" comments) are
// left out: they were reviewed and do not apply (see .ci/vuln-exceptions).
//
// Usage: go run . <vulndb module dir> <output dir> [exceptions file]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

type osvEntry struct {
	ID       string   `json:"id"`
	Modified string   `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Events []struct {
				Fixed string `json:"fixed,omitempty"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string `json:"id"`
	Modified string `json:"modified"`
	Fixed    string `json:"fixed,omitempty"`
}

type vulnMeta struct {
	ID       string   `json:"id"`
	Modified string   `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: vulndb <vulndb module dir> <output dir> [exceptions file]")
		os.Exit(2)
	}
	skip := map[string]bool{}
	if len(os.Args) == 4 {
		b, err := os.ReadFile(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "vulndb:", err)
			os.Exit(1)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			if id := strings.TrimSpace(line); id != "" {
				skip[id] = true
			}
		}
	}
	if err := build(os.Args[1], os.Args[2], skip); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func build(src, out string, skip map[string]bool) error {
	files, err := filepath.Glob(filepath.Join(src, "data", "osv", "*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no OSV entries under %s/data/osv", src)
	}
	for _, dir := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(out, dir), 0o755); err != nil {
			return err
		}
	}
	modules := map[string][]moduleVuln{}
	var vulns []vulnMeta
	latest := ""
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e osvEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if skip[e.ID] {
			fmt.Printf("vulndb: leaving out %s (listed as not applicable)\n", e.ID)
			continue
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		if e.Modified > latest {
			latest = e.Modified
		}
		for _, a := range e.Affected {
			fixed := ""
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if ev.Fixed != "" && (fixed == "" || semver.Compare("v"+ev.Fixed, "v"+fixed) > 0) {
						fixed = ev.Fixed
					}
				}
			}
			modules[a.Package.Name] = append(modules[a.Package.Name], moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
	}
	type moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	var index []moduleMeta
	for path, vs := range modules {
		index = append(index, moduleMeta{Path: path, Vulns: vs})
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	for name, v := range map[string]any{
		"db.json":      map[string]string{"modified": latest},
		"modules.json": index,
		"vulns.json":   vulns,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("vulndb: %d entries, %d modules, modified %s\n", len(vulns), len(index), strings.TrimSpace(latest))
	return nil
}
