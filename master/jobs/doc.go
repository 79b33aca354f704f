// Package jobs is drover's persistent job queue: any master submits, reads and
// cancels jobs in etcd; the leader's Executor runs them step by step, with a
// fenced checkpoint after every step, and resumes them after a change of leader.
package jobs
