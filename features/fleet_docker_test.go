package features

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"

	"github.com/osupgrade/osupgrade/fakes/docker"
	"github.com/osupgrade/osupgrade/harness"
	"github.com/osupgrade/osupgrade/internal/clock"
)

// The Docker fleet, for @docker scenarios when OSUPGRADE_FLEET=docker.
func init() { dockerFleet = newDockerFleet }

// newDockerFleet starts the containers of one scenario; their resources are
// labelled after the scenario (steps cuts its name short) plus a random
// suffix, and removed when the scenario ends.
func newDockerFleet(ctx context.Context, name string, clk *clock.Scaled, progress io.Writer) (harness.Backend, func(context.Context) error, error) {
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return nil, nil, err
	}
	opts, err := docker.ForTest(ctx, docker.Options{RunID: "f-" + name + "-" + hex.EncodeToString(suffix), Clock: clk, TimeScale: clk.Scale(), Progress: progress})
	if err != nil {
		return nil, nil, err
	}
	f, err := docker.New(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return f, func(ctx context.Context) error { return errors.Join(f.Clean(ctx), f.Close()) }, nil
}
