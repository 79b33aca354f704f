package main

// /metrics of a master (on its HTTPS API port) and of an agent (local up
// gives each agent --metrics-listen), checked by Debian's promtool.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

func needPromtool(t *testing.T) string {
	t.Helper()
	realtest.Short(t, "end-to-end")
	p, err := exec.LookPath("promtool")
	if err != nil {
		realtest.Need(t, "promtool is not installed (Debian package prometheus)")
	}
	return p
}

func scrape(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

func promtoolCheck(t *testing.T, promtool, what, text string) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics on the %s's /metrics: %v\n%s", what, err, out)
	}
}

func TestMetrics(t *testing.T) {
	promtool := needPromtool(t)
	lc := startLocal(t, 1, 1, "127.0.15")
	waitFor(t, 60*time.Second, "node online", func() bool { return lc.nodeStatus()["node1"] == "online" })
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "metrics")
	lc.mustCLI("template", "import", "tiny", tarball)
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node1", "web1")
	lc.mustCLI("instance", "shutdown", "web1")

	ca, err := os.ReadFile(filepath.Join(lc.dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	master := scrape(t, c, "https://127.0.151.1:5080/metrics")
	promtoolCheck(t, promtool, "master", master)
	for _, want := range []string{
		`drover_nodes{status="online"} 1`,
		`drover_instances{status="ADMIN_down"} 1`,
		`drover_jobs{state="success"}`,
		`drover_job_duration_seconds_count{kind="instance.add"} 1`,
		`drover_master_leader 1`,
		`drover_etcd_healthy 1`,
		`drover_etcd_db_size_bytes `,
		`drover_master_epoch `,
	} {
		if !strings.Contains(master, want) {
			t.Errorf("master /metrics lacks %q", want)
		}
	}

	agent := scrape(t, c, fmt.Sprintf("http://127.0.152.1:%d/metrics", agentMetricsPort))
	promtoolCheck(t, promtool, "agent", agent)
	for _, want := range []string{
		`drover_agent_info{node="node1"} 1`,
		`drover_agent_lease_renewal_seconds_count `,
		`drover_agent_hypervisor_call_seconds_count{call="define",result="ok"} 1`,
		`drover_agent_hypervisor_call_seconds_count{call="shutdown",result="ok"} 1`,
	} {
		if !strings.Contains(agent, want) {
			t.Errorf("agent /metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("master:\n%s\nagent:\n%s", grepDrover(master), grepDrover(agent))
	}
}

func grepDrover(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "drover_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
