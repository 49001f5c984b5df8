package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/osupgrade/osupgrade/internal/buildinfo"
)

// The registry serve exposes at /metrics carries the running build.
func TestBuildInfoIsRegistered(t *testing.T) {
	w := newWorld(t)
	in := buildinfo.Read()
	want := `# HELP osupgrade_build_info The running osupgrade's build: module version, commit (vcs.revision, -modified when the checkout was) and Go version; always 1.
# TYPE osupgrade_build_info gauge
osupgrade_build_info{goversion="` + in.GoVersion + `",revision="` + in.Commit() + `",version="` + in.Version + `"} 1
`
	if err := testutil.GatherAndCompare(w.m.Registry(), strings.NewReader(want), "osupgrade_build_info"); err != nil {
		t.Fatal(err)
	}
}

func TestBuildInfoLabels(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   buildinfo.Info
		want string
	}{
		{"release", buildinfo.Info{Version: "v1.2.3", GoVersion: "go1.26.0"}, `osupgrade_build_info{goversion="go1.26.0",revision="",version="v1.2.3"} 1`},
		{"checkout", buildinfo.Info{Version: "(devel)", Revision: "863674d", GoVersion: "go1.26.0"}, `osupgrade_build_info{goversion="go1.26.0",revision="863674d",version="(devel)"} 1`},
		{"modified checkout", buildinfo.Info{Version: "(devel)", Revision: "863674d", Modified: true, GoVersion: "go1.26.0"}, `osupgrade_build_info{goversion="go1.26.0",revision="863674d-modified",version="(devel)"} 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(buildInfoGauge(tc.in))
			want := "# HELP osupgrade_build_info The running osupgrade's build: module version, commit (vcs.revision, -modified when the checkout was) and Go version; always 1.\n# TYPE osupgrade_build_info gauge\n" + tc.want + "\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "osupgrade_build_info"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
