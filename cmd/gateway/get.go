package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/problem"
	"github.com/identity-gateway/identity-gateway/config"
	"github.com/identity-gateway/identity-gateway/internal/dispatch"
)

// vendorIDs is the repeatable --vendor-id target=id flag.
type vendorIDs map[string]string

func (v vendorIDs) String() string { return fmt.Sprint(map[string]string(v)) }

func (v vendorIDs) Set(s string) error {
	t, id, ok := strings.Cut(s, "=")
	if !ok || t == "" || id == "" {
		return errors.New("want target=id")
	}
	v[t] = id
	return nil
}

// cmdGet prints one user as every addressed target shows it, and the drift.
// By default it asks a running gateway (--url, with --key or
// GATEWAY_API_KEY when the gateway checks clients); with --config it reads
// the vendors itself, in-process, through the same dispatcher.
func cmdGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("get", stderr)
	targets := fs.String("targets", "", "comma-separated targets (default: the gateway's default targets)")
	asJSON := fs.Bool("json", false, "print the gateway's JSON answer instead of tables")
	base := fs.String("url", "http://127.0.0.1:8080", "the running gateway to ask")
	key := fs.String("key", "", "API key for the gateway (default: $GATEWAY_API_KEY)")
	path := fs.String("config", "", "read the vendors directly with this config instead of asking a gateway")
	ids := vendorIDs{}
	fs.Var(ids, "vendor-id", "target=id: the user's id at a target (repeatable)")
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gateway get ID [--targets a,b] [--json] [--url URL | --config FILE] [--vendor-id target=id]")
	}
	id := fs.Arg(0)
	var list []string
	if *targets != "" {
		list = strings.Split(*targets, ",")
	}
	var (
		res dispatch.ReadResult
		raw []byte
		err error
	)
	if *path != "" {
		res, raw, err = getDirect(ctx, *path, id, list, ids)
	} else {
		if *key == "" {
			*key = os.Getenv("GATEWAY_API_KEY")
		}
		res, raw, err = getRemote(ctx, *base, *key, id, list, ids)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err := stdout.Write(out.Bytes())
		return err
	}
	return printRead(stdout, res)
}

// reorderFlags lets the id come before the flags (gateway get demo --json):
// the flag package stops at the first non-flag argument.
func reorderFlags(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && i+1 < len(args) {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			i++
			flags = append(flags, args[i])
		}
	}
	return append(flags, rest...)
}

func getRemote(ctx context.Context, base, key, id string, targets []string, ids vendorIDs) (dispatch.ReadResult, []byte, error) {
	q := url.Values{}
	if len(targets) > 0 {
		q.Set("targets", strings.Join(targets, ","))
	}
	for t, v := range ids {
		q.Set("vendor_ids."+t, v)
	}
	u := strings.TrimRight(base, "/") + "/v1/users/" + url.PathEscape(id)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return dispatch.ReadResult{}, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return dispatch.ReadResult{}, nil, fmt.Errorf("asking the gateway at %s: %w (start one with gateway dev, or use --config)", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return dispatch.ReadResult{}, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var p problem.Problem
		if json.Unmarshal(raw, &p) == nil && p.Code != "" {
			e := &canonical.Error{Code: p.Code, Message: p.Detail, Fields: p.Errors}
			return dispatch.ReadResult{}, nil, fmt.Errorf("%d %s", resp.StatusCode, e.Error())
		}
		return dispatch.ReadResult{}, nil, fmt.Errorf("the gateway answered %d", resp.StatusCode)
	}
	var res dispatch.ReadResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return dispatch.ReadResult{}, nil, fmt.Errorf("the gateway's answer: %w", err)
	}
	return res, raw, nil
}

func getDirect(ctx context.Context, path, id string, targets []string, ids vendorIDs) (dispatch.ReadResult, []byte, error) {
	cfg, err := config.LoadFile(path, os.LookupEnv)
	if err != nil {
		return dispatch.ReadResult{}, nil, err
	}
	g, err := build(ctx, cfg, buildOptions{LogOutput: io.Discard, NoStore: true})
	if err != nil {
		return dispatch.ReadResult{}, nil, err
	}
	defer g.Shutdown(context.Background())
	res, err := g.dispatcher.Read(ctx, dispatch.ReadInput{Client: "cli", UserID: id, Targets: targets, VendorIDs: ids})
	if err != nil {
		return dispatch.ReadResult{}, nil, problemErr(err)
	}
	raw, err := json.Marshal(res)
	return res, raw, err
}

// printRead writes the per-target view and the drift as two tables.
func printRead(w io.Writer, res dispatch.ReadResult) error {
	state := "consistent"
	if !res.Consistent {
		state = fmt.Sprintf("%d field(s) drift", len(res.Drift))
	}
	fmt.Fprintf(w, "user %s: %s (ETag %s)\n\n", res.ID, state, res.ETag)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSTATUS\tVENDOR ID\tFIELD\tVALUE\tFROM")
	names := make([]string, 0, len(res.Results))
	for n := range res.Results {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := res.Results[n]
		first := fmt.Sprintf("%s\t%s\t%s", n, r.Status, r.VendorID)
		if r.Snapshot == nil || len(r.Snapshot.Fields) == 0 {
			msg := ""
			if r.Error != nil {
				msg = string(r.Error.Code) + ": " + r.Error.Message
			}
			fmt.Fprintf(tw, "%s\t-\t%s\t\n", first, clipCell(msg, 100))
			continue
		}
		for _, f := range canonical.AllFields() {
			v, ok := r.Snapshot.Fields[f]
			if !ok {
				continue
			}
			val := cell(v.Value)
			if len(v.Unmapped) > 0 {
				val += " (+ unmapped " + strings.Join(v.Unmapped, ", ") + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", first, f, clipCell(val, 60), v.From)
			first = "\t\t"
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Drift) == 0 {
		fmt.Fprintln(w, "\nno drift")
		return nil
	}
	fmt.Fprintln(w, "\nDRIFT (normalised values)")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTARGET\tVALUE")
	for _, d := range res.Drift {
		first := string(d.Field)
		ts := make([]string, 0, len(d.Values))
		for t := range d.Values {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", first, t, clipCell(cell(d.Values[t]), 60))
			first = ""
		}
	}
	return tw.Flush()
}

// cell renders a value for a table: strings as they are, anything else as
// compact JSON.
func cell(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// clipCell keeps a table cell on one line and bounded.
func clipCell(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
