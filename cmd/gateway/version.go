package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("version takes no arguments")
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("this binary carries no build information")
	}
	fmt.Fprint(stdout, versionText(info))
	return nil
}

// versionText formats build information: the main module's version (a tag,
// a pseudo-version, or "(devel)" for a source build), the VCS revision and
// time when Go stamped them (go build inside a checkout), and the Go
// version.
func versionText(info *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = "unknown (not built from a VCS checkout)"
	} else if settings["vcs.modified"] == "true" {
		rev += " (modified)"
	}
	out := fmt.Sprintf("identity-gateway %s\nmodule:   %s\nrevision: %s\n", orUnknown(info.Main.Version), orUnknown(info.Main.Path), rev)
	if t := settings["vcs.time"]; t != "" {
		out += "time:     " + t + "\n"
	}
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return out + fmt.Sprintf("go:       %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
