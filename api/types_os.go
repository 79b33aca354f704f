package api

import "strings"

// OSDefinition is a Ganeti OS definition (API 20) found on a node's OS
// search path, as the node's agent reports it. Instances name it as
// NAME+VARIANT (or NAME when it has no variants) in place of a template.
type OSDefinition struct {
	// Name is the OS directory's name (debootstrap).
	Name string `json:"name"`
	// Dir is where the node found it (/usr/share/ganeti/os/debootstrap).
	Dir string `json:"dir"`
	// APIVersions are those of its ganeti_api_version file.
	APIVersions []int `json:"api_versions,omitempty"`
	// Variants are those of variants.list (empty: none).
	Variants []string `json:"variants,omitempty"`
	// Parameters are name -> description from parameters.list.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Error says why the definition cannot be used ("" when valid).
	Error string `json:"error,omitempty"`
}

// validOSRef checks what an instance's OS may be: a template reference
// (name or name@version) or a Ganeti OS definition (name+variant, or a
// name). Parameters are only for OS definitions, checked here for form;
// the node's definition decides which it knows.
func validOSRef(ref string, params map[string]string) error {
	name, variant, isOS := strings.Cut(ref, "+")
	if !isOS {
		if err := validTemplateRef(ref); err != nil {
			return err
		}
	} else if !ValidOSName(name) || !ValidOSName(variant) {
		return Errorf(CodeWrongInput, "os %s: not NAME+VARIANT of a Ganeti OS definition", quoteShort(ref))
	}
	for k, v := range params {
		if !ValidOSName(k) || strings.ContainsAny(v, "\x00\n") || len(v) > 1024 {
			return Errorf(CodeWrongInput, "os parameter %s: want name=value (letters, digits, . _ -; one line)", quoteShort(k))
		}
	}
	return nil
}

// ValidOSName reports whether s can name an OS definition or one of its
// variants or parameters (a directory name: letters, digits, ".", "_", "-",
// not starting with . or -; Ganeti's names such as "debootstrap").
func ValidOSName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}
