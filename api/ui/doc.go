// Package ui is drover's live web dashboard, served by every master at /ui
// on its HTTPS API port (docs/ui.md). Its assets (plain HTML, CSS and
// JavaScript) are embedded in the binary with go:embed: the page loads
// nothing from outside the master.
//
// The page shows nodes, instances, jobs and the cluster's health; the master
// pushes a new view with server-sent events (GET /ui/api/events) whenever
// anything under drover's etcd prefix changes (the state cache's watch).
// A session is a drover bearer token issued for the user at login and kept
// in an HttpOnly, Secure, SameSite=Strict cookie; logout revokes it.
// `drover ui` asks for a one-time login link: a random code, good for one
// use within OnceTTL, exchanged for a session cookie.
package ui
