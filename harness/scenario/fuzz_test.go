package scenario

import (
	"errors"
	"testing"
)

// FuzzParse: any bytes give either a valid scenario or one *Error naming
// the file — never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("name: x\nscaleSets: [{name: a, instances: 1, image: \"a:b:c:latest\", runningVersion: \"1\"}]\n"))
	f.Add([]byte("timeline:\n  - {on: \"batch 99999999999999999999 started\", trigger: manual}\n"))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("scaleSets:\n  - instances: -1\n    zones: {a: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data, vocab)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.File != "fuzz.yaml" {
				t.Fatalf("error %v (%T) is not a *scenario.Error naming the file", err, err)
			}
			return
		}
		if sc.Name == "" || len(sc.ScaleSets) == 0 {
			t.Fatalf("accepted a scenario without a name or scale sets: %+v", sc)
		}
	})
}

// FuzzParseDuration: any string gives a non-negative duration that
// FormatDuration writes back to the same value, or an error — never a panic.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "90s", "1d12h", "70d1s", "1d0.5h", "106751d23h47m16s", "1.5d", "1d-2h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, written %q, read back %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}
