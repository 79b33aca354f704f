package api

import (
	"encoding/json"
	"strings"
	"time"
)

// Template opcode kinds.
const (
	OpTemplateBuild  = "template.build"  // TemplateBuild
	OpTemplateRemove = "template.remove" // TemplateRemove
)

// MaxTemplateBytes caps the body of POST /templates/{name}/import (the
// 1 MiB limit of other routes does not apply there).
const MaxTemplateBytes = 8 << 30

// Template is one version of a template registered with the cluster.
type Template struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Digest is "sha256:<hex>" of the artifact (the compressed tarball).
	Digest string `json:"digest"`
	// Size of the artifact in bytes.
	Size     int64    `json:"size"`
	Suite    string   `json:"suite,omitempty"`
	Variant  string   `json:"variant,omitempty"`
	Includes []string `json:"includes,omitempty"`
	// Tool: mmdebstrap, debootstrap or import.
	Tool string `json:"tool,omitempty"`
	// Packages is the number of installed Debian packages.
	Packages  int       `json:"packages"`
	BuildDate time.Time `json:"build_date"`
	// Master is the master whose store holds the artifact.
	Master    string    `json:"master"`
	CreatedAt time.Time `json:"created_at"`
	// Manifest is the full manifest (GET /templates/{name} only).
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// TemplateBuild is the body of POST /templates and the params of
// template.build (debootstrap or mmdebstrap on the leader).
type TemplateBuild struct {
	Name    string   `json:"name"`
	Suite   string   `json:"suite,omitempty"`
	Variant string   `json:"variant,omitempty"`
	Include []string `json:"include,omitempty"`
	Mirror  string   `json:"mirror,omitempty"`
}

// TemplateRemove is the params of template.remove: one version, or every
// version when Version is 0.
type TemplateRemove struct {
	Name    string `json:"name"`
	Version int    `json:"version,omitempty"`
}

// Validate checks a TemplateBuild.
func (b TemplateBuild) Validate() error {
	if !ValidTemplateName(b.Name) {
		return Errorf(CodeWrongInput, "template name %s: want ^[a-z0-9][a-z0-9._-]{0,62}$", quoteShort(b.Name))
	}
	for _, s := range []string{b.Suite, b.Variant} {
		if s != "" && !ValidTemplateName(s) {
			return Errorf(CodeWrongInput, "suite or variant %s is not a word", quoteShort(s))
		}
	}
	for _, p := range b.Include {
		if p == "" || len(p) > 128 || strings.ContainsAny(p, ", \t\n") || strings.HasPrefix(p, "-") {
			return Errorf(CodeWrongInput, "package %s is not a package name", quoteShort(p))
		}
	}
	if b.Mirror != "" && !strings.HasPrefix(b.Mirror, "http://") && !strings.HasPrefix(b.Mirror, "https://") && !strings.HasPrefix(b.Mirror, "file:/") {
		return Errorf(CodeWrongInput, "mirror %s: want an http, https or file URL", quoteShort(b.Mirror))
	}
	return nil
}

// Validate checks a TemplateRemove.
func (r TemplateRemove) Validate() error {
	if !ValidTemplateName(r.Name) {
		return Errorf(CodeWrongInput, "template name %s is not valid", quoteShort(r.Name))
	}
	if r.Version < 0 {
		return Errorf(CodeWrongInput, "version %d is negative", r.Version)
	}
	return nil
}
