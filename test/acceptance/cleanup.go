package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// cleanups is the undo stack of everything a run created or changed: each
// creation pushes its undo as soon as the thing exists, and run undoes them
// in reverse order, each whatever became of the others, so that a failed
// or interrupted run leaves nothing behind that it could remove.
type cleanups struct {
	mu    sync.Mutex
	items []cleanup
}

type cleanup struct {
	what string
	undo func(context.Context) error
}

// push records how to undo what.
func (c *cleanups) push(what string, undo func(context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = append(c.items, cleanup{what: what, undo: undo})
}

// run undoes everything, newest first, each within timeout, reporting each
// on log, and returns what could not be undone with why. When ctx ends,
// what is left is not tried and is returned too.
func (c *cleanups) run(ctx context.Context, timeout time.Duration, log io.Writer) []string {
	c.mu.Lock()
	items := c.items
	c.items = nil
	c.mu.Unlock()
	var left []string
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		if ctx.Err() != nil {
			left = append(left, fmt.Sprintf("%s (cleanup interrupted)", it.what))
			continue
		}
		start := time.Now()
		uctx, cancel := context.WithTimeout(ctx, timeout)
		err := it.undo(uctx)
		cancel()
		if err != nil {
			left = append(left, fmt.Sprintf("%s: %v", it.what, err))
			fmt.Fprintf(log, "  FAILED   %s: %v\n", it.what, err)
			continue
		}
		fmt.Fprintf(log, "  removed  %s (%s)\n", it.what, time.Since(start).Round(100*time.Millisecond))
	}
	return left
}

// errRetry marks an undo that failed for a reason that passes (a
// dependency AWS removes by itself, such as a load balancer's network
// interfaces).
var errRetry = errors.New("not yet")

// retry calls f until it succeeds, fails with an error that does not wrap
// errRetry, or ctx ends, waiting longer each time (up to 15 s).
func retry(ctx context.Context, f func(context.Context) error) error {
	wait := 500 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil || !errors.Is(err, errRetry) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}
