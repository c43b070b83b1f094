package trigger_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/privatelink-approver/privatelink-approver/pkg/trigger"
)

// FuzzDecode: any payload is either work or an ErrUnsupported error, never
// a panic. Seeds: every sample in events/ and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	samples, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil || len(samples) == 0 {
		f.Fatalf("no samples in events/: %v", err)
	}
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := trigger.Decode(payload, policyParameter)
		if err != nil {
			if !errors.Is(err, trigger.ErrUnsupported) {
				t.Fatalf("an error that is not ErrUnsupported: %v", err)
			}
			return
		}
		if got.Kind == trigger.CustomResource {
			if got.Resource == nil || got.Source != trigger.FromCloudFormation || len(got.Targets) > 0 || got.Sweep {
				t.Fatalf("a custom resource request must carry its request and ask for no reconcile: %+v", got)
			}
			return
		}
		if got.Ignored == "" && len(got.Targets) == 0 {
			t.Fatalf("work with no target: %+v", got)
		}
		for _, tg := range got.Targets {
			if !tg.All && len(tg.Services) == 0 {
				t.Fatalf("a target naming nothing: %+v", tg)
			}
			if got.Source == trigger.FromSQS && tg.ID == "" {
				t.Fatalf("an SQS target without a message ID: %+v", tg)
			}
		}
	})
}
