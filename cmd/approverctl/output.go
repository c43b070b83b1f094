package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
)

// view is what a command prints: JSON for --output json; otherwise a table
// (or Empty when it has no rows), then Notes, one per line.
type view struct {
	JSON   any
	Header []string
	Rows   [][]string
	Empty  string
	Notes  []string
}

// show prints v in the format --output asks for.
func (a *app) show(v view) error {
	return render(a.stdout, v, a.g.output == "json")
}

// render prints v to w: its JSON, or its table and notes.
func render(w io.Writer, v view, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v.JSON)
	}
	switch {
	case len(v.Rows) > 0:
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(v.Header, "\t"))
		for _, r := range v.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	case v.Empty != "":
		fmt.Fprintln(w, v.Empty)
	}
	for _, n := range v.Notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// countsLine says what a reconcile or a person's decision did, from the
// same counts as the function's summary and metrics.
func countsLine(c approver.Counts) string {
	line := fmt.Sprintf("%d accepted, %d rejected, %d revoked, %d held, %d manual, %d failed",
		c.Accepted, c.Rejected, c.Revoked, c.Held, c.Manual, c.Failed)
	for _, extra := range []struct {
		n    int
		what string
	}{{c.AlreadyDecided, "already decided"}, {c.Gone, "gone"}, {c.DryRunDecisions, "decided in dry run (nothing changed)"},
		{c.StampFailures, "not stamped"}} {
		if extra.n > 0 {
			line += fmt.Sprintf(", %d %s", extra.n, extra.what)
		}
	}
	return line
}

// age renders a duration as operators read it: 45s, 12m, 3h10m, 2d4h.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
