package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var vocab = Vocabulary{Faults: []string{"unhealthy", "maintenance", "slow-boot"}}

const good = `name: ok
scaleSets:
  - name: web
    instances: 10
    zones: [1, 2]
    image: Canonical:UbuntuServer:18.04-LTS:latest
    runningVersion: 18.04.1
    extensions:
      - {name: install, type: CustomScript, sasExpiresAt: 2h}
images:
  - {image: Canonical:UbuntuServer:18.04-LTS:18.04.2, publishAt: 30m}
timeline:
  - {at: 0s, fault: unhealthy, instances: [0, 1]}
  - {on: "batch 2 started", fault: maintenance, percent: 30, duration: 20m}
  - {at: 3h, renewSas: install, expiresAt: 2d}
  - {at: 3h, manualUpgrade: all}
expect:
  status: Completed
  versions: {18.04.2: 10}
`

func TestParse_Good(t *testing.T) {
	f, err := Parse("ok.yaml", []byte(good), vocab)
	if err != nil {
		t.Fatal(err)
	}
	s := f.ScaleSets[0]
	if s.Zones[1] != "2" || s.Extensions[0].SASExpiresAt.Duration != 2*time.Hour {
		t.Errorf("parsed %+v", s)
	}
	if f.Exclusive {
		t.Error("exclusive without the field")
	}
	if f, err := Parse("ok.yaml", []byte(strings.Replace(good, "name: ok\n", "name: ok\nexclusive: true\n", 1)), vocab); err != nil || !f.Exclusive {
		t.Errorf("exclusive: true parsed as %v, %v", f != nil && f.Exclusive, err)
	}
	if f.Timeline[1].Line != 14 || f.Timeline[2].ExpiresAt.Duration != 48*time.Hour || !f.Timeline[3].ManualUpgrade.All {
		t.Errorf("timeline %+v", f.Timeline)
	}
}

// Every bad file gets one error naming the file, the line and the field.
func TestParse_BadInput(t *testing.T) {
	cases := []struct {
		name, edit, old string
		line            int
		field, msg      string
	}{
		{"unknown field", "    colour: blue\n    instances: 10\n", "    instances: 10\n", 4, "colour", "unknown field"},
		{"compare mode", "name: ok\ncompare: roughly\n", "name: ok\n", 2, "compare", `is "roughly", want instances or counts`},
		{"exclusive not a bool", "name: ok\nexclusive: sometimes\n", "name: ok\n", 2, "exclusive", "cannot unmarshal"},
		{"wrong type", "    instances: ten\n", "    instances: 10\n", 4, "scaleSets[0].instances", "cannot unmarshal"},
		{"instances 0", "    instances: 0\n", "    instances: 10\n", 4, "scaleSets[0].instances", "want 1 to 1000000"},
		{"percent 120", "percent: 120", "percent: 30", 14, "timeline[1].percent", "want 0 to 100"},
		{"unknown fault kind", "fault: meteor", "fault: maintenance", 14, "timeline[1].fault", "unknown fault \"meteor\""},
		{"event that does not exist", `on: "batch 0 started"`, `on: "batch 2 started"`, 14, "timeline[1].on", "count from 1"},
		{"event with a typo", `on: "bach 2 started"`, `on: "batch 2 started"`, 14, "timeline[1].on", "does not exist"},
		{"instance out of range", "instances: [0, 10]", "instances: [0, 1]", 13, "timeline[0].instances[1]", "does not exist"},
		{"wrong type in a flow mapping", "percent: lots", "percent: 30", 14, "timeline[1].percent", "cannot unmarshal"},
		{"bad duration", "duration: 20 minutes", "duration: 20m", 14, "timeline[1].duration", "want a duration"},
		{"renewSas of a missing extension", "renewSas: setup", "renewSas: install", 15, "timeline[2].renewSas", "no extension \"setup\""},
		{"two actions", "{at: 3h, manualUpgrade: all, trigger: manual}", "{at: 3h, manualUpgrade: all}", 16, "timeline[3]", "exactly one action"},
		{"no when", "{manualUpgrade: all}", "{at: 3h, manualUpgrade: all}", 16, "timeline[3]", "exactly one of at"},
		{"bad status", "status: Done", "status: Completed", 18, "expect.status", "want one of"},
		{"bad name", "name: OK!", "name: ok", 1, "name", "must match"},
		{"bad image", "image: ubuntu", "image: Canonical:UbuntuServer:18.04-LTS:latest", 6, "scaleSets[0].image", "publisher:offer:sku:version"},
		{"latest published", "18.04-LTS:latest, publishAt", "18.04-LTS:18.04.2, publishAt", 11, "images[0].image", "concrete version"},
		{"policy percent out of range", "    upgradePolicy: {maxBatchInstancePercent: 4}\n    instances: 10\n", "    instances: 10\n", 4, "scaleSets[0].upgradePolicy.maxBatchInstancePercent", "is 4, want 5 to 100"},
		{"policy pause over a day", "    upgradePolicy:\n      pauseTimeBetweenBatches: 2d\n    instances: 10\n", "    instances: 10\n", 5, "scaleSets[0].upgradePolicy.pauseTimeBetweenBatches", "want 0 to 24h0m0s"},
		{"zone that does not exist", "fault: unhealthy, zone: \"9\"", "fault: unhealthy, instances: [0, 1]", 13, "timeline[0].zone", "no zone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("test bug: %q not in the good file", c.old)
			}
			src := strings.Replace(good, c.old, c.edit, 1)
			_, err := Parse("bad.yaml", []byte(src), vocab)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Parse() = %v, want a *scenario.Error", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("errors.Is(ErrInvalid) is false")
			}
			if se.File != "bad.yaml" || se.Line != c.line || se.Field != c.field || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("got %q (line %d, field %q), want line %d field %q containing %q", err, se.Line, se.Field, c.line, c.field, c.msg)
			}
		})
	}
}

// ParseDuration reads scenario files' and feature steps' durations: optional
// whole days first, then an optional Go duration.
func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	good := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"30s", 30 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"0.5h", 30 * time.Minute},
		{"30d", 30 * day},
		{"0d", 0},
		{"2d", 2 * day},
		{"1d12h", 36 * time.Hour},
		{"70d1s", 70*day + time.Second},
		{"1d0.5h", day + 30*time.Minute},
		{"1d1h30m15s", day + time.Hour + 30*time.Minute + 15*time.Second},
		{"1d0", day},
		{"7d500ms", 7*day + 500*time.Millisecond},
		{"106751d", 106751 * day},
	}
	for _, c := range good {
		got, err := ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		if back, err := ParseDuration(FormatDuration(got)); err != nil || back != got {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", got, FormatDuration(got), back, err)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "want a duration like"},
		{"soon", "want a duration like"},
		{"-5m", "is negative"},
		{"1.5d", "days come first, once and whole"},
		{"12h1d", "days come first, once and whole"},
		{"1d1d", "days come first, once and whole"},
		{"d", "days come first, once and whole"},
		{"d12h", "days come first, once and whole"},
		{"-1d", "days come first, once and whole"},
		{"1d-2h", "no sign after the days"},
		{"1d+2h", "no sign after the days"},
		{"1d 12h", "want a duration like"},
		{"1d12", "want a duration like"},
		{"1dh", "want a duration like"},
		{"106752d", "more than 106751 days"},
		{"99999999999999999999d", "more than 106751 days"},
		{"106751d24h", "more than 106751 days"},
	}
	for _, c := range bad {
		_, err := ParseDuration(c.in)
		if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), `"`+c.in+`"`) {
			t.Errorf("ParseDuration(%q) = %v; want an error quoting it and saying %q", c.in, err, c.msg)
		}
	}
}

// A compound duration in a scenario file is read; a bad one is an error
// naming the file, line and field.
func TestParse_CompoundDuration(t *testing.T) {
	f, err := Parse("ok.yaml", []byte(strings.Replace(good, "duration: 20m", "duration: 1d12h", 1)), vocab)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Timeline[1].Duration.Duration; got != 36*time.Hour {
		t.Errorf("duration: 1d12h read as %v", got)
	}
	_, err = Parse("bad.yaml", []byte(strings.Replace(good, "duration: 20m", "duration: 12h1d", 1)), vocab)
	var se *Error
	if !errors.As(err, &se) || se.File != "bad.yaml" || se.Line != 14 || se.Field != "timeline[1].duration" || !strings.Contains(se.Msg, "days come first") {
		t.Errorf("duration: 12h1d gave %v, want bad.yaml:14 timeline[1].duration: days come first", err)
	}
}
