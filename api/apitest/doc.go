// Package apitest is an in-memory api.Backend with real behaviour (users,
// tokens and their revocation, nodes, jobs that run and finish) and a harness
// that serves it over HTTP, for tests of the api package and of its clients.
package apitest
