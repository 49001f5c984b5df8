// Package cliflag parses a command's flags with spf13/pflag the way
// osupgrade's commands have always taken them, and more: flags may come
// before or after the positional arguments (`osupgrade run FILE --fleet
// sim`), `--` ends the flags, and a long flag may still be written with one
// dash (`-fleet sim`, `-json`), as Go's flag package accepted, so that
// scripts written against it keep working.
package cliflag

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// NewFlagSet is a flag set for command name (as in "osupgrade NAME") that
// writes its usage and errors to stderr and leaves the exit to the caller.
func NewFlagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Parse parses args into fs. ok false: the command stops with code, 0 for
// -h/--help (the usage was printed) and 2 for bad usage (the error, naming
// the flag, and the usage were printed).
func Parse(fs *pflag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(LongWithOneDash(fs, args))
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, pflag.ErrHelp):
		return 0, false
	}
	fmt.Fprintf(fs.Output(), "osupgrade %s: %v\n\n", fs.Name(), err)
	if fs.Usage != nil {
		fs.Usage()
	} else {
		fs.PrintDefaults()
	}
	return 2, false
}

// LongWithOneDash rewrites -name and -name=value to --name and
// --name=value where name is one of fs's long flags (or help), since pflag
// reads -name as the shorthands n, a, m, e. A flag's value (the argument
// after a flag that takes one) and everything after `--` are left as they
// are.
func LongWithOneDash(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		var f *pflag.Flag
		body, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case strings.HasPrefix(a, "--"):
			f = fs.Lookup(body)
		case len(body) > 1 && (fs.Lookup(body) != nil || body == "help"):
			a, f = "-"+a, fs.Lookup(body)
		case len(body) == 1:
			f = fs.ShorthandLookup(body)
		}
		out = append(out, a)
		// A flag that takes a value and has none after '=' takes the
		// next argument, whatever it looks like (--run -1, --out -x).
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}
