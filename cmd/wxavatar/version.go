package main

import (
	"runtime/debug"
	"strings"
)

// buildVersion is set at link time by release builds
// (-ldflags "-X main.buildVersion=v1.2.3"); empty otherwise.
var buildVersion string

// version names the build: the release version when linked in, else the
// module version or the commit the Go toolchain recorded, and the Go version.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return strings.TrimSpace(buildVersion + " (no build information)")
	}
	v := buildVersion
	if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev != "" {
		v += " (commit " + rev + dirty + ")"
	}
	return v + " " + info.GoVersion
}
