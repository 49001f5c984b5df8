package harness

import (
	"context"
	"fmt"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
)

// bad-image: the named version (version:), or else the next version to be
// published after now, is bad: `kind` never-healthy (default), crash or
// extension-failure.
type badImage struct{}

func init() { register("bad-image", badImage{}) }

func (badImage) Apply(_ context.Context, w *World, t Target) (func(context.Context) error, error) {
	bv := w.Fleet
	kind := fault.NeverHealthy
	if t.Entry.Kind != "" {
		k, err := fault.ParseBadKind(t.Entry.Kind)
		if err != nil {
			return nil, err
		}
		kind = k
	}
	version := t.Entry.Version
	if version == "" {
		v, ok := w.nextPublished()
		if !ok {
			return nil, fmt.Errorf("bad-image: no version is published after %s; name one with version:", w.Clock.Now().Format("15:04:05"))
		}
		version = v.Version
	}
	bv.SetBadVersion(version, kind)
	return nil, nil
}

// nextPublished is the first scenario image published after now.
func (w *World) nextPublished() (orchestrator.ImageVersion, bool) {
	now := w.Clock.Now()
	var best orchestrator.ImageVersion
	found := false
	for _, v := range w.images {
		if v.PublishedAt.After(now) && (!found || v.PublishedAt.Before(best.PublishedAt)) {
			best, found = v, true
		}
	}
	return best, found
}
