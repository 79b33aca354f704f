// Package htools reads and writes the Ganeti htools text format (hbal -t,
// hspace -t, hail -t), so one cluster file feeds both drover and htools.
package htools
