package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/osupgrade/osupgrade/internal/buildinfo"
	"github.com/osupgrade/osupgrade/internal/cliflag"
)

func init() {
	commands["version"] = command{"print the module version, commit and Go version (--json for a document)", versionMain}
}

func versionMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("version", stderr)
	asJSON := fs.Bool("json", false, "print a JSON document: version, revision, modified, time, go_version, os, arch, cgo_enabled")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: osupgrade version [--json]\n\nPrints the module version (vX.Y.Z for go install …@vX.Y.Z, (devel) for a build in a\ncheckout), the commit it was built from (and whether the checkout was modified), and\nthe Go version, OS and architecture.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "osupgrade version: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	in := buildinfo.Read()
	if !*asJSON {
		fmt.Fprintln(stdout, in)
		return 0
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(in); err != nil {
		fmt.Fprintf(stderr, "osupgrade version: %v\n", err)
		return 1
	}
	return 0
}
