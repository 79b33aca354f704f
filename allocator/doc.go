// Package allocator places instances on nodes: a pure, deterministic pipeline of
// feasibility filters and a cluster score in the spirit of Ganeti's hbal, serving
// allocate, multi-allocate, relocate, evacuate, balance and capacity requests.
// It does no I/O and reads no clock; see README.md for the score formula.
package allocator
