package backend

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func open(context.Context, Config) (Fleet, error) { return nil, errors.New("not opened in this test") }

// The registry: names sorted, an unknown name's error lists them, a clash
// or an incomplete registration is refused at once.
func TestRegistry(t *testing.T) {
	Register("registry-test-b", Factory{Open: open, Clock: WallClock})
	Register("registry-test-a", Factory{Open: open})
	if got := Names(); !slices.Equal(got, []string{"registry-test-a", "registry-test-b"}) {
		t.Fatalf("Names() = %v", got)
	}
	if f, err := Lookup("registry-test-b"); err != nil || f.Clock != WallClock {
		t.Fatalf("Lookup(registry-test-b) = %+v, %v", f, err)
	}
	_, err := Lookup("vmware")
	var unknown *UnknownError
	if !errors.As(err, &unknown) || err.Error() != `unknown fleet "vmware": registered: registry-test-a, registry-test-b` {
		t.Fatalf("Lookup(vmware) error %v", err)
	}
	for _, c := range []struct {
		name string
		f    Factory
	}{
		{"registry-test-a", Factory{Open: open}}, // taken
		{"", Factory{Open: open}},                // no name
		{"registry-test-c", Factory{}},           // no Open
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q, %+v) did not panic", c.name, c.f)
				}
			}()
			Register(c.name, c.f)
		}()
	}
	if got := List(); got != "registry-test-a, registry-test-b" {
		t.Errorf("List() = %q", got)
	}
}
