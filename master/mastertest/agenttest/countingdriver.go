package agenttest

import (
	"context"
	"sync"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
)

// CountingDriver wraps an hv.Driver and counts the calls that change a
// domain (Define, Start, Undefine, Destroy, Shutdown, Reboot) per domain, so
// that tests see how often the agent really did each thing. Hold can make
// Define or Start of one domain wait until released.
type CountingDriver struct {
	hv.Driver

	mu    sync.Mutex
	calls map[string]int // "op/name"
	holds map[string]chan struct{}
	held  map[string]chan struct{}
	fails map[string]error
}

// NewCountingDriver wraps d.
func NewCountingDriver(d hv.Driver) *CountingDriver {
	return &CountingDriver{Driver: d, calls: map[string]int{}, holds: map[string]chan struct{}{}, held: map[string]chan struct{}{},
		fails: map[string]error{}}
}

// Calls is how often op ("define", "start", ...) was called for name.
func (c *CountingDriver) Calls(op, name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op+"/"+name]
}

func (c *CountingDriver) count(op, name string) {
	c.mu.Lock()
	c.calls[op+"/"+name]++
	c.mu.Unlock()
}

// Hold makes the next calls of op ("define" or "start") for name wait until
// release is called (or their context ends); reached is closed when one has
// begun waiting.
func (c *CountingDriver) Hold(op, name string) (reached <-chan struct{}, release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gate, at := make(chan struct{}), make(chan struct{})
	c.holds[op+"/"+name], c.held[op+"/"+name] = gate, at
	var once sync.Once
	return at, func() { once.Do(func() { close(gate) }) }
}

// Fail makes the calls of op ("define" or "start") for name fail with err
// from now on (nil: succeed again), as a hypervisor that refuses them.
func (c *CountingDriver) Fail(op, name string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.fails, op+"/"+name)
		return
	}
	c.fails[op+"/"+name] = err
}

// wait blocks a held call until it is released, and returns the error a
// failing one is to return.
func (c *CountingDriver) wait(ctx context.Context, op, name string) error {
	k := op + "/" + name
	c.mu.Lock()
	if err := c.fails[k]; err != nil {
		c.mu.Unlock()
		return err
	}
	gate, at := c.holds[k], c.held[k]
	if at != nil {
		delete(c.held, k)
		close(at)
	}
	c.mu.Unlock()
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Define implements hv.Driver.
func (c *CountingDriver) Define(ctx context.Context, spec hv.DomainSpec) error {
	if err := c.wait(ctx, "define", spec.Name); err != nil {
		return err
	}
	c.count("define", spec.Name)
	return c.Driver.Define(ctx, spec)
}

// Start implements hv.Driver.
func (c *CountingDriver) Start(ctx context.Context, name string) error {
	if err := c.wait(ctx, "start", name); err != nil {
		return err
	}
	c.count("start", name)
	return c.Driver.Start(ctx, name)
}

// Undefine implements hv.Driver.
func (c *CountingDriver) Undefine(ctx context.Context, name string) error {
	c.count("undefine", name)
	return c.Driver.Undefine(ctx, name)
}

// Destroy implements hv.Driver.
func (c *CountingDriver) Destroy(ctx context.Context, name string) error {
	c.count("destroy", name)
	return c.Driver.Destroy(ctx, name)
}

// Shutdown implements hv.Driver.
func (c *CountingDriver) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	c.count("shutdown", name)
	return c.Driver.Shutdown(ctx, name, timeout)
}

// Reboot implements hv.Driver.
func (c *CountingDriver) Reboot(ctx context.Context, name string) error {
	c.count("reboot", name)
	return c.Driver.Reboot(ctx, name)
}

// Events passes the wrapped driver's lifecycle events on, when it has them.
func (c *CountingDriver) Events(ctx context.Context) (<-chan hv.Event, error) {
	es, ok := c.Driver.(hv.EventSource)
	if !ok {
		return nil, hv.ErrUnsupported
	}
	return es.Events(ctx)
}

// Health passes the wrapped driver's health on, when it reports one.
func (c *CountingDriver) Health() error {
	if hr, ok := c.Driver.(hv.HealthReporter); ok {
		return hr.Health()
	}
	return nil
}
