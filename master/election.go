package master

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// campaignLoop keeps a session, registers the master and campaigns, leading
// whenever elected, until ctx ends.
func (m *Master) campaignLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := m.campaignOnce(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("campaign_ended", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
}

// campaignOnce runs one session: register, campaign, lead until the session
// or the leadership ends.
func (m *Master) campaignOnce(ctx context.Context) error {
	// Short: a grant in flight when the etcd leader dies is answered only
	// after etcd's request timeout; retrying is faster.
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	lease, err := m.client.Grant(gctx, int64(m.cfg.SessionTTL))
	cancel()
	if err != nil {
		return fmt.Errorf("grant session lease: %w", err)
	}
	sess, err := concurrency.NewSession(m.client, concurrency.WithLease(lease.ID), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	defer sess.Close()
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	go func() {
		select {
		case <-sess.Done():
			scancel()
		case <-sctx.Done():
		}
	}()
	if err := m.register(sctx, lease.ID); err != nil {
		return err
	}
	el := concurrency.NewElection(sess, keys.ElectionPrefix)
	wctx, wcancel := context.WithCancel(sctx)
	go m.watchDeadLeader(wctx)
	err = el.Campaign(sctx, m.cfg.Name)
	wcancel()
	if err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	fence := store.Fence{Key: el.Key(), Epoch: el.Rev()}
	err = m.leadUntilLost(sctx, fence)
	if sctx.Err() == nil || ctx.Err() != nil {
		// Still in session (executor gave up) or stopping: hand over now
		// rather than when the lease expires.
		rctx, rcancel := store.WithTimeout(context.WithoutCancel(ctx))
		_ = el.Resign(rctx)
		rcancel()
	}
	return err
}

// register publishes masters/<name> bound to the session lease.
func (m *Master) register(ctx context.Context, lease clientv3.LeaseID) error {
	rec := keys.MasterRecord{Name: m.cfg.Name, APIURL: m.apiURL(), Version: m.cfg.Version, StartedAt: m.started}
	op, err := store.PutJSON(keys.MasterKey(m.cfg.Name), rec, clientv3.WithLease(lease))
	if err != nil {
		return err
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	if _, err := m.client.Do(tctx, op); err != nil {
		return fmt.Errorf("register master: %w", err)
	}
	return nil
}

// leadUntilLost runs the leader's duties until ctx ends or one of them finds
// that leadership is lost.
func (m *Master) leadUntilLost(ctx context.Context, fence store.Fence) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.lead = leadState{leading: true, epoch: fence.Epoch, since: time.Now()}
	m.stopLead = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.lead = leadState{}
		m.stopLead = nil
		m.mu.Unlock()
	}()
	log := m.log.With("epoch", fence.Epoch)
	log.Info("leader_elected")
	var wg sync.WaitGroup
	var once sync.Once
	var lost error
	end := func(err error) {
		once.Do(func() { lost = err })
		cancel()
	}
	for _, c := range m.leaderControllers(log) {
		wg.Go(func() {
			err := c.run(lctx, fence)
			if c.fatal {
				end(err)
			} else if err != nil && lctx.Err() == nil {
				log.Warn("controller_ended", "controller", c.name, "error", err)
			}
		})
	}
	wg.Wait()
	if lost != nil && !errors.Is(lost, context.Canceled) {
		log.Warn("leadership_ended", "error", lost)
		return lost
	}
	log.Info("leadership_ended")
	return nil
}

// StepDown ends this master's current leadership (if any); it campaigns again.
func (m *Master) StepDown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopLead != nil {
		m.stopLead()
	}
}
