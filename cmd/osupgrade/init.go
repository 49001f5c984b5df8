package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/osupgrade/osupgrade/internal/buildinfo"
	"github.com/osupgrade/osupgrade/internal/cliflag"
	"github.com/osupgrade/osupgrade/internal/scaffold"
)

func init() {
	commands["init"] = command{"scaffold a repository: an example scenario, an example feature and what to run", initMain}
}

// module is osupgrade's module path, for `go install` lines.
const module = "github.com/osupgrade/osupgrade"

func initMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cliflag.NewFlagSet("init", stderr)
	force := fs.Bool("force", false, "overwrite files that exist")
	fs.Usage = func() {
		files, _ := scaffold.Files()
		fmt.Fprintf(stderr, "Usage: osupgrade init [--force] DIR\n\nWrites into DIR (created if need be):\n  %s\n\nRefuses to overwrite a file that exists (lists them) unless --force.\nExit status: 0 written, 1 files exist or could not be written, 2 usage.\n\n", strings.Join(files, "\n  "))
		fs.PrintDefaults()
	}
	if code, ok := cliflag.Parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "osupgrade init: name one directory (. for this one)")
		return 2
	}
	written, err := scaffold.Write(fs.Arg(0), scaffold.Data{Module: module, Version: installVersion()}, *force)
	for _, p := range written {
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "osupgrade init: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nNext: osupgrade run --fleet sim %[1]s/scenarios/ and osupgrade features %[1]s/features/\n", strings.TrimSuffix(fs.Arg(0), "/"))
	return 0
}

// installVersion is the version `go install` should fetch: this binary's
// module version, or latest for a build from a checkout.
func installVersion() string {
	bi, _ := debug.ReadBuildInfo()
	v, _ := buildinfo.InstallVersion(bi, module)
	return v
}
