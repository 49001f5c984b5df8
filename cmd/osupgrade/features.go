package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/features/steps"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/progress"
)

func init() {
	commands["features"] = command{"run Gherkin .feature files with osupgrade's step vocabulary", featuresMain}
}

// featureFormats are the report formats of `osupgrade features`, with the
// file each writes into --out.
var featureFormats = map[string]string{
	"pretty":   "",
	"junit":    "features.junit.xml",
	"cucumber": "features.cucumber.json",
}

const featuresUsage = `Usage: osupgrade features [--fleet sim|docker] [--format pretty|junit|cucumber] [--out DIR] [--tags EXPR] PATH...
       osupgrade features --steps

Runs the scenarios of .feature files (PATH: files or directories; default
./features) with osupgrade's step vocabulary: the Given steps declare scale
sets, image versions, faults and user actions, "When the scenario runs" runs
them against the orchestrator, the Then steps check what happened. --steps
lists every step.

Formats (comma-separated for several): pretty on stdout; junit and cucumber
into --out DIR (features.junit.xml, features.cucumber.json), or on stdout
without --out. With --out and no pretty, stdout gets godog's progress line and
summary (failures, and snippets for undefined steps).

Exit status: 0 every scenario passed, 1 a step failed or is undefined, 2 bad
usage, a path that does not exist, or a file that does not parse.

`

func featuresMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("features", stderr)
	fleet := fs.String("fleet", baselineFleet, "the fleet backend the scenarios run on: "+fleetNames())
	format := fs.String("format", "pretty", "pretty, junit or cucumber; comma-separated for several")
	out := fs.String("out", "", "write the junit and cucumber reports into this directory")
	tags := fs.String("tags", "", `run only the scenarios this tag expression selects ("@smoke", "~@slow", "@a && @b")`)
	list := fs.Bool("steps", false, "print the step vocabulary and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, featuresUsage)
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if *list {
		if fs.NArg() > 0 {
			fmt.Fprintln(stderr, "osupgrade features: --steps takes no path")
			return 2
		}
		printVocabulary(stdout, steps.Vocabulary())
		return 0
	}
	fb, err := usableFleet(ctx, *fleet)
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade features: --fleet is %q: %v\n", *fleet, err)
		return 2
	}
	godogFormat, err := featureFormat(*format, *out)
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade features: %v\n", err)
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 {
		if st, err := os.Stat("features"); err != nil || !st.IsDir() {
			fmt.Fprintln(stderr, "osupgrade features: name the .feature files or directories to run (there is no ./features)")
			return 2
		}
		paths = []string{"features"}
	}
	// junit is written from the scenarios' outcomes (steps.JUnit): godog's
	// own junit can give negative times and mark a failed scenario passed.
	godogFormat, junitPath, junitOnStdout := splitJUnit(godogFormat)
	var report *steps.JUnit
	if junitPath != "" || junitOnStdout {
		report = steps.NewJUnit(".", time.Now)
	}
	godogOut := stdout
	if junitOnStdout {
		// stdout is the JUnit document's; godog needs a format all the same.
		godogOut = io.Discard
	}
	suite := steps.Suite{
		Config:  steps.Config{Fleet: *fleet, Backend: fb},
		JUnit:   report,
		Paths:   paths,
		Format:  godogFormat,
		Output:  godogOut,
		Tags:    *tags,
		Colors:  progress.IsTerminal(stdout),
		Context: ctx,
	}.TestSuite()
	// Parse before running: a file that does not parse runs nothing and
	// is reported with its line, on our stderr (godog's Run prints parse
	// errors on the process's).
	features, err := suite.RetrieveFeatures()
	if err != nil {
		fmt.Fprintln(stderr, parseError(err))
		return 2
	}
	n := 0
	var texts []string // every step's text, to name the undefined ones
	for _, f := range features {
		n += len(f.Pickles)
		for _, p := range f.Pickles {
			for _, st := range p.Steps {
				texts = append(texts, st.Text)
			}
		}
	}
	if n == 0 {
		what := "no scenario in " + strings.Join(paths, ", ")
		if *tags != "" {
			what += " matches --tags " + *tags
		}
		fmt.Fprintf(stderr, "osupgrade features: %s\n", what)
		return 2
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintf(stderr, "osupgrade features: --out: %v\n", err)
			return 2
		}
	}
	code := suite.Run()
	if report != nil && code != 2 {
		var err error
		if junitOnStdout {
			_, err = report.WriteTo(stdout)
		} else {
			err = report.Write(junitPath)
		}
		if err != nil {
			fmt.Fprintf(stderr, "osupgrade features: junit: %v\n", err)
			return 2
		}
	}
	switch code {
	case 0:
		return 0
	case 2:
		return 2
	default:
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "osupgrade features: interrupted")
		}
		if u := undefinedSteps(texts, steps.Vocabulary()); len(u) > 0 {
			fmt.Fprintf(stderr, "osupgrade features: no step of the vocabulary matches %q (`osupgrade features --steps` lists them)\n", u)
		}
		return 1
	}
}

// undefinedSteps are the step texts that no step of the vocabulary
// matches, each once.
func undefinedSteps(texts []string, vocab []steps.Definition) []string {
	patterns := make([]*regexp.Regexp, 0, len(vocab))
	for _, d := range vocab {
		patterns = append(patterns, regexp.MustCompile(d.Pattern))
	}
	var out []string
	for _, t := range texts {
		if !slices.ContainsFunc(patterns, func(re *regexp.Regexp) bool { return re.MatchString(t) }) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// featureFormat turns --format and --out into godog's format list: at most
// one format on stdout; with --out and no pretty, godog's progress
// formatter keeps the failures and snippets on stdout.
func featureFormat(formats, out string) (string, error) {
	var parts, onStdout []string
	for _, f := range strings.Split(formats, ",") {
		f = strings.TrimSpace(f)
		file, ok := featureFormats[f]
		if !ok {
			return "", fmt.Errorf("--format %q: want pretty, junit or cucumber", f)
		}
		if slices.Contains(parts, f) || slices.ContainsFunc(parts, func(p string) bool { return strings.HasPrefix(p, f+":") }) {
			return "", fmt.Errorf("--format names %s twice", f)
		}
		if file == "" || out == "" {
			parts = append(parts, f)
			onStdout = append(onStdout, f)
			continue
		}
		parts = append(parts, f+":"+filepath.Join(out, file))
	}
	if len(onStdout) > 1 {
		return "", fmt.Errorf("--format %s would all write to stdout: give --out DIR for junit and cucumber", strings.Join(onStdout, ","))
	}
	if len(onStdout) == 0 {
		parts = append(parts, "progress")
	}
	return strings.Join(parts, ","), nil
}

// splitJUnit takes junit out of godog's format list: the file it names, or
// stdout. What is left always names a format (godog needs one).
func splitJUnit(format string) (rest, path string, onStdout bool) {
	var parts []string
	for _, p := range strings.Split(format, ",") {
		switch {
		case p == "junit":
			onStdout = true
		case strings.HasPrefix(p, "junit:"):
			path = strings.TrimPrefix(p, "junit:")
		default:
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		parts = []string{"progress"}
	}
	return strings.Join(parts, ","), path, onStdout
}

// gherkinError is a parser error as godog reports it: "PATH - Parser
// errors:" then "(LINE:COLUMN): message" lines.
var (
	gherkinFile = regexp.MustCompile(`^(.+) - Parser errors:$`)
	gherkinLine = regexp.MustCompile(`^\((\d+):(\d+)\): (.*)$`)
)

// parseError writes godog's parse errors as FILE:LINE:COLUMN: message
// lines, as compilers do; other errors as they are.
func parseError(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	m := gherkinFile.FindStringSubmatch(lines[0])
	if m == nil {
		return "osupgrade features: " + err.Error()
	}
	var out []string
	for _, l := range lines[1:] {
		if p := gherkinLine.FindStringSubmatch(l); p != nil {
			out = append(out, fmt.Sprintf("%s:%s:%s: %s", m[1], p[1], p[2], p[3]))
		} else {
			out = append(out, m[1]+": "+l)
		}
	}
	return strings.Join(out, "\n")
}

// printVocabulary prints every step's pattern and what it does, grouped by
// noun.
func printVocabulary(w io.Writer, defs []steps.Definition) {
	fmt.Fprint(w, "# The steps of `osupgrade features`: godog matches each line of a scenario\n"+
		"# against these patterns, in this order. Times are on the scenario clock,\n"+
		"# which starts at 0: 90s, 4m59s, 2h, 30d, 1d12h.\n\n")
	noun := ""
	for _, d := range defs {
		if d.Noun != noun {
			if noun != "" {
				fmt.Fprintln(w)
			}
			noun = d.Noun
			fmt.Fprintf(w, "# %s\n", noun)
		}
		fmt.Fprintf(w, "%s\n    %s\n", d.Pattern, d.Help)
	}
}
