package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bi       debug.BuildInfo
		want     Info
		wantLine string
	}{
		{
			name:     "go install at a version",
			bi:       debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/osupgrade/osupgrade", Version: "v1.2.3"}, Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"}, {Key: "CGO_ENABLED", Value: "0"}}},
			want:     Info{Version: "v1.2.3", GoVersion: "go1.26.0", OS: "linux", Arch: "arm64", CGO: "0"},
			wantLine: "osupgrade v1.2.3 go1.26.0 linux/arm64",
		},
		{
			name: "build in a modified checkout",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
				{Key: "vcs.revision", Value: "863674d0aa"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-02T06:00:00Z"},
			}},
			want:     Info{Version: "(devel)", Revision: "863674d0aa", Modified: true, Time: "2026-12-02T06:00:00Z", GoVersion: "go1.26.0", OS: "linux", Arch: "amd64"},
			wantLine: "osupgrade (devel) (commit 863674d0aa, modified) go1.26.0 linux/amd64",
		},
		{
			name:     "clean checkout, no version stamped",
			bi:       debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}, {Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			want:     Info{Version: "(devel)", Revision: "abc", GoVersion: "go1.26.0", OS: "linux", Arch: "amd64"},
			wantLine: "osupgrade (devel) (commit abc) go1.26.0 linux/amd64",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(&tc.bi)
			if got != tc.want {
				t.Errorf("FromBuildInfo = %+v, want %+v", got, tc.want)
			}
			if line := got.String(); line != tc.wantLine {
				t.Errorf("String = %q, want %q", line, tc.wantLine)
			}
		})
	}
}

// The version `go install` needs to fetch this build again, or latest when
// no module proxy has it.
func TestInstallVersion(t *testing.T) {
	const mod = "github.com/osupgrade/osupgrade"
	for _, tc := range []struct {
		name      string
		bi        *debug.BuildInfo
		want      string
		wantExact bool
	}{
		{"release", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "v1.2.3"}}, "v1.2.3", true},
		{"pseudo-version", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "v0.0.0-20261202150000-fcca49a0b1c2"}}, "v0.0.0-20261202150000-fcca49a0b1c2", true},
		{"incompatible major", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "v2.0.0+incompatible"}}, "v2.0.0+incompatible", true},
		{"modified checkout", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "v0.0.0-20261202150000-fcca49a0b1c2+dirty"}}, "latest", false},
		{"devel", &debug.BuildInfo{Main: debug.Module{Path: mod, Version: "(devel)"}}, "latest", false},
		{"another module", &debug.BuildInfo{Main: debug.Module{Path: "example.com/fork", Version: "v1.0.0"}}, "latest", false},
		{"no build information", nil, "latest", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, exact := InstallVersion(tc.bi, mod)
			if got != tc.want || exact != tc.wantExact {
				t.Errorf("InstallVersion = %q, %v; want %q, %v", got, exact, tc.want, tc.wantExact)
			}
		})
	}
}
