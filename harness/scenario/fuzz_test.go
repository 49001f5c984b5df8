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
