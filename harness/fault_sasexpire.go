package harness

import (
	"context"
	"fmt"
	"time"
)

// sas-expire: the SAS token of an extension (extension:, default every
// extension) expires now (R-CRED-1); the recovery is renewSas, then
// manualUpgrade.
type sasExpire struct{}

func init() { register("sas-expire", sasExpire{}) }

func (sasExpire) Apply(ctx context.Context, w *World, t Target) (func(context.Context) error, error) {
	return nil, w.setSASExpiry(ctx, t.Set, t.Entry.Extension, w.Clock.Now())
}

// setSASExpiry changes when an extension's token expires, in the model.
func (w *World) setSASExpiry(ctx context.Context, set, extension string, at time.Time) error {
	m, ok := w.Orch.ScaleSet(set)
	if !ok {
		return fmt.Errorf("scale set %s does not exist", set)
	}
	hit := false
	exts := append(m.Extensions[:0:0], m.Extensions...)
	for i := range exts {
		if extension == "" || exts[i].Name == extension {
			exts[i].SASExpiresAt = at
			hit = true
		}
	}
	if !hit {
		return fmt.Errorf("scale set %s has no extension %q", set, extension)
	}
	m.Extensions = exts
	return w.Orch.UpdateScaleSet(ctx, m)
}
