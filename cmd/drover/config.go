package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// clientConfig is where the CLI finds the masters. Precedence: flags, then
// environment (DROVER_API, DROVER_TOKEN, DROVER_CA), then the config file
// ($DROVER_CONFIG or ~/.config/drover/config.json).
type clientConfig struct {
	// API lists master URLs; the client moves on to the next when one is down.
	API []string `json:"api"`
	// Token is a bearer token.
	Token string `json:"token"`
	// CA is the path of the cluster CA certificate (PEM).
	CA string `json:"ca"`
}

func configPath() string {
	if p := os.Getenv("DROVER_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "drover", "config.json")
}

func loadClientConfig(c *cli.Context) (clientConfig, error) {
	var cfg clientConfig
	if p := configPath(); p != "" {
		b, err := os.ReadFile(p)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &cfg); err != nil {
				return cfg, fmt.Errorf("config file %s: %w", p, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return cfg, fmt.Errorf("config file: %w", err)
		}
	}
	if v := c.String("api"); v != "" {
		cfg.API = splitList(v)
	}
	if v := c.String("token"); v != "" {
		cfg.Token = v
	}
	if v := c.String("ca"); v != "" {
		cfg.CA = v
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newClient builds an API client from the configuration.
func newClient(c *cli.Context) (*api.Client, error) {
	cfg, err := loadClientConfig(c)
	if err != nil {
		return nil, err
	}
	if len(cfg.API) == 0 {
		return nil, usagef("no master given: set DROVER_API (comma-separated URLs), --api, or the config file %s", configPath())
	}
	return clientWith(cfg, cfg.API)
}

// clientWith builds an API client for urls with the configuration's token
// and CA.
func clientWith(cfg clientConfig, urls []string) (*api.Client, error) {
	token, caPEM, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	return api.NewClient(urls, token, caPEM)
}

// credentials reads the configuration's token (@file reads it from a file)
// and CA certificate (nil without one).
func (cfg clientConfig) credentials() (token string, caPEM []byte, err error) {
	token = cfg.Token
	if strings.HasPrefix(token, "@") {
		b, err := os.ReadFile(token[1:])
		if err != nil {
			return "", nil, fmt.Errorf("read token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if cfg.CA != "" {
		if caPEM, err = os.ReadFile(cfg.CA); err != nil {
			return "", nil, fmt.Errorf("read CA certificate: %w", err)
		}
	}
	return token, caPEM, nil
}
