package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// eventually calls check every poll until it reports done, returns an
// error that is not errRetry, or timeout passes. check says what it saw; on
// timeout the error names what was awaited and the last thing seen, or the
// last error. A check that fails with errRetry (a call AWS may answer
// later) is tried again. The wait is the deployed stack's to finish: a
// check never passes by the clock.
func eventually(ctx context.Context, timeout, poll time.Duration, what string, check func(context.Context) (done bool, seen string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var seen string
	var lastErr error
	for {
		done, s, err := check(ctx)
		switch {
		case err == nil && done:
			return nil
		case err == nil:
			seen, lastErr = s, nil
		case errors.Is(err, errRetry) || ctx.Err() != nil:
			lastErr = err
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return fmt.Errorf("%s: %w", what, ctx.Err()) // interrupted
			}
			if lastErr != nil {
				return fmt.Errorf("%s: not seen within %s; last error: %v", what, timeout, lastErr)
			}
			return fmt.Errorf("%s: not seen within %s; last seen: %s", what, timeout, seen)
		case <-time.After(poll):
		}
	}
}
