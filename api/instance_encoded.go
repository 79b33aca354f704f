package api

import (
	"context"
	"encoding/json"
	"reflect"
	"sync/atomic"
)

// EncodedInstance is an instance of a list answer together with its JSON,
// encoded once: a backend that keeps them (InstanceEncodedPager) encodes an
// instance again only when it changed, and the answer of GET /instances is
// their concatenation (docs/scale.md, "Encoded once"). It is immutable
// once made, apart from the lazily kept encodings of single fields.
type EncodedInstance struct {
	Instance Instance
	json     []byte
	fields   []atomic.Pointer[[]byte] // by position in instanceFields().names
}

// NewEncodedInstance encodes in; the bytes are those json.Marshal gives.
func NewEncodedInstance(in Instance) (*EncodedInstance, error) {
	b, err := json.Marshal(&in)
	if err != nil {
		return nil, err
	}
	return &EncodedInstance{Instance: in, json: b, fields: make([]atomic.Pointer[[]byte], len(instanceFields().names))}, nil
}

// JSON is the instance's encoding (not to be modified).
func (e *EncodedInstance) JSON() []byte { return e.json }

// fieldJSON is the encoding of the field at position slot of
// instanceFields().names, as a map of selected fields encodes it.
func (e *EncodedInstance) fieldJSON(slot int, index []int) ([]byte, error) {
	if p := e.fields[slot].Load(); p != nil {
		return *p, nil
	}
	b, err := json.Marshal(reflect.ValueOf(&e.Instance).Elem().FieldByIndex(index).Interface())
	if err != nil {
		return nil, err
	}
	e.fields[slot].Store(&b) // a concurrent reader may store the same bytes
	return b, nil
}

// InstanceEncodedPager is an optional ability of an InstanceBackend that
// the server prefers to InstancePager: the same page, of instances encoded
// once.
type InstanceEncodedPager interface {
	ListInstancePageEncoded(ctx context.Context, q InstancePageQuery) (page []*EncodedInstance, more bool, err error)
}
