package scenario

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator/backend"
)

// A backend registered for this package's tests only: `fleets:` takes the
// names in package backend's registry, whatever they are.
func init() {
	backend.Register("scenario-test-fleet", backend.Factory{Open: func(context.Context, backend.Config) (backend.Fleet, error) {
		return nil, errors.New("never opened")
	}})
}

func TestParse_Fleets(t *testing.T) {
	for _, c := range []struct {
		fleets string
		err    string // "" accepted; else in the error
	}{
		{"[scenario-test-fleet]", ""},
		{"[]", ""},
		{"[vmware]", `fleets.yaml:2: fleets[0]: unknown fleet "vmware": registered: scenario-test-fleet`},
		{"[scenario-test-fleet, cloud]", `fleets[1]: unknown fleet "cloud"`},
	} {
		_, err := Parse("fleets.yaml", []byte(strings.Replace(good, "name: ok\n", "name: ok\nfleets: "+c.fleets+"\n", 1)), vocab)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("fleets: %s: %v", c.fleets, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("fleets: %s: error %v, want one with %q", c.fleets, err, c.err)
		}
	}
}
