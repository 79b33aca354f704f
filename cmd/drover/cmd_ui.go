package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/ui"
)

// uiLink is what `drover ui --output json` prints.
type uiLink struct {
	URL       string    `json:"url"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

func uiCommand() *cli.Command {
	return &cli.Command{
		Name:  "ui",
		Usage: "print a one-time login link to the web dashboard (docs/ui.md)",
		Description: "Asks a master for a login link for the token's user: good once, for " + ui.OnceTTL.String() +
			", on that master only. Opening it in a browser starts a dashboard session (" + ui.SessionTTL.String() + ").",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("ui takes no arguments")
			}
			cfg, err := loadClientConfig(c)
			if err != nil {
				return err
			}
			if len(cfg.API) == 0 {
				return usagef("no master given: set DROVER_API (comma-separated URLs), --api, or the config file %s", configPath())
			}
			token, caPEM, err := cfg.credentials()
			if err != nil {
				return err
			}
			link, err := requestLoginLink(c.Context, cfg.API, token, caPEM)
			if err != nil {
				return err
			}
			if outputJSON(c) {
				return printJSON(c.App.Writer, link)
			}
			fmt.Fprintln(c.App.Writer, link.URL)
			fmt.Fprintf(c.App.ErrWriter, "login link for user %s: good once, until %s\n",
				link.User, link.ExpiresAt.Local().Format("15:04:05"))
			return nil
		},
	}
}

// requestLoginLink asks the masters in turn (the next when one cannot be
// reached) for a one-time link; the link is good on the master that made it.
func requestLoginLink(ctx context.Context, endpoints []string, token string, caPEM []byte) (*uiLink, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("no certificate found in the CA file")
		}
		tlsCfg.RootCAs = pool
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsCfg}}
	defer hc.CloseIdleConnections()
	var failures []string
	for _, ep := range endpoints {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(ep), "/"), api.APIPrefix)
		if !strings.Contains(base, "://") {
			base = "https://" + base
		}
		link, err := postLoginLink(ctx, hc, base, token)
		var ae *api.Error
		if err == nil || errors.As(err, &ae) && ae.Code != api.CodeUnavailable {
			return link, err
		}
		failures = append(failures, base+": "+err.Error())
	}
	return nil, &api.Error{Code: api.CodeUnavailable, Message: "no master reachable: " + strings.Join(failures, "; ")}
}

func postLoginLink(ctx context.Context, hc *http.Client, base, token string) (*uiLink, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+ui.LoginLinksPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return nil, eb.Error
		}
		return nil, &api.Error{Code: api.CodeUnavailable, Message: fmt.Sprintf("HTTP %d from %s", resp.StatusCode, base)}
	}
	var l ui.LoginLink
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("decode login link: %w", err)
	}
	return &uiLink{URL: base + l.Path, User: l.User, ExpiresAt: l.ExpiresAt}, nil
}
