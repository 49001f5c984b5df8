// Package buildinfo says which osupgrade is running: the module version,
// the commit it was built from and the Go that built it, as the Go
// toolchain stamped them into the binary (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Info is the running binary's build: `osupgrade version` prints it and
// the osupgrade_build_info metric carries it.
type Info struct {
	// Version is the module version: vX.Y.Z or a pseudo-version for `go
	// install …@version`, "(devel)" (or a VCS-derived one) for a build in
	// a checkout, "unknown" when the binary carries no build information.
	Version string `json:"version"`
	// Revision is the commit (vcs.revision); "" when not built in a
	// checkout (`go install …@latest`, -buildvcs=false).
	Revision string `json:"revision,omitempty"`
	// Modified: the checkout had uncommitted changes (vcs.modified).
	Modified bool `json:"modified,omitempty"`
	// Time is the commit's time (vcs.time), RFC 3339.
	Time      string `json:"time,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	// CGO is the cgo setting it was built with: "0" gives a static binary
	// (the Docker fleet's OS images need one).
	CGO string `json:"cgo_enabled,omitempty"`
}

// Read is the running binary's build.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo reads an Info out of what the toolchain stamped.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion, OS: runtime.GOOS, Arch: runtime.GOARCH}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	if in.GoVersion == "" {
		in.GoVersion = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			in.Modified, _ = strconv.ParseBool(s.Value)
		case "vcs.time":
			in.Time = s.Value
		case "GOOS":
			in.OS = s.Value
		case "GOARCH":
			in.Arch = s.Value
		case "CGO_ENABLED":
			in.CGO = s.Value
		}
	}
	return in
}

// Commit is the revision with "-modified" when the checkout had changes:
// the osupgrade_build_info metric's revision label.
func (in Info) Commit() string {
	if in.Modified {
		return in.Revision + "-modified"
	}
	return in.Revision
}

// String is the one line `osupgrade version` prints.
func (in Info) String() string {
	s := "osupgrade " + in.Version
	if in.Revision != "" {
		s += " (commit " + in.Revision
		if in.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + in.GoVersion + " " + in.OS + "/" + in.Arch
}

// InstallVersion is the version for `go install <module>/cmd/osupgrade@VERSION`
// that gives this same build, and exact=true; or "latest" and exact=false
// when bi is not a published build of module: no build information, another
// main module (a test binary's is its own), "(devel)", or the VCS-derived
// version of a modified checkout ("+dirty"), which no module proxy serves.
func InstallVersion(bi *debug.BuildInfo, module string) (version string, exact bool) {
	if bi == nil || bi.Main.Path != module {
		return "latest", false
	}
	v := bi.Main.Version
	if !strings.HasPrefix(v, "v") || strings.HasSuffix(v, "+dirty") {
		return "latest", false
	}
	return v, true
}
