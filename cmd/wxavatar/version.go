package main

import (
	"runtime/debug"
)

// version names the build: the module version (go install …@vX.Y.Z) and the
// commit the Go toolchain recorded (a build from a git checkout), whichever
// it has, and the Go version; "devel" when it has neither, as in the
// Dockerfile's build, which sees no .git.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel (no build information)"
	}
	var v string
	if info.Main.Version != "" && info.Main.Version != "(devel)" {
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
