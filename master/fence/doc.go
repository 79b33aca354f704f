// Package fence runs STONITH agents through the fence-agents protocol
// (ClusterLabs' FenceAgentAPI): the agent gets its parameters as name=value
// lines on stdin, one of them action=off|on|status, and answers with its
// exit code (status: 0 on, 2 off, 1 error). A power-off counts only when a
// following status confirms it. Parameters that are secrets (passwords) are
// never shown: Device.Redacted hides them and Device.Scrub removes their
// values from anything an agent printed. See docs/ha.md.
package fence
