// Package rapi serves Ganeti's Remote API v2 (/version and /2/...) over an
// api.Backend, with Ganeti 3.0's JSON shapes, so that unchanged Ganeti
// clients (python3-ganeti-rapi, htools' -m) work against drover. See
// docs/rapi.md for what is supported and how it differs.
package rapi
