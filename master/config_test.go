package master

import (
	"errors"
	"testing"
	"time"
)

// etcd raises a lease's TTL to 1.5 election timeouts (in whole ticks,
// rounded up to a second): a master refuses a session TTL below that
// instead of running with a longer session than it was asked for.
func TestConfigSessionTTLAgainstEtcdTiming(t *testing.T) {
	for _, tc := range []struct {
		tick, election uint
		session        int
		endpoints      []string
		ok             bool
	}{
		{0, 0, 0, nil, true},                // defaults: 100/500 ms, min 1 s, session 2 s
		{200, 2000, 5, nil, true},           // the scale bench: min 3 s
		{300, 3000, 5, nil, true},           // min 4.5 s, rounded to 5
		{400, 4000, 5, nil, false},          // min 6 s
		{100, 2000, 2, nil, false},          // min 3 s
		{400, 4000, 5, []string{"x"}, true}, // external etcd: its own timing
		{300, 1000, 2, nil, true},           // 3 ticks, 3*3/2 = 4 ticks (integer, as etcd) = 1.2 s -> 2 s
		{300, 1500, 2, nil, false},          // 5 ticks, 7 ticks = 2.1 s -> 3 s
	} {
		c := Config{Dir: "d", Name: "m1", TickMs: tc.tick, ElectionMs: tc.election, SessionTTL: tc.session, EtcdEndpoints: tc.endpoints}
		err := c.setDefaults()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("tick %d election %d session %d endpoints %v: %v, want ok=%v", tc.tick, tc.election, tc.session, tc.endpoints, err, tc.ok)
		}
	}
}

func TestConfigCompactionRetention(t *testing.T) {
	c := Config{Dir: "d", Name: "m1"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.EtcdCompactionRetention != time.Hour {
		t.Errorf("default retention %v, want 1h", c.EtcdCompactionRetention)
	}
	c = Config{Dir: "d", Name: "m1", EtcdCompactionRetention: 5 * time.Minute}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	// etcd parses the retention with time.ParseDuration (or as hours).
	if d, err := time.ParseDuration(c.EtcdCompactionRetention.String()); err != nil || d != 5*time.Minute {
		t.Errorf("retention %q parses to %v, %v", c.EtcdCompactionRetention.String(), d, err)
	}
}
