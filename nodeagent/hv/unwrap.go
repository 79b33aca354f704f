package hv

// Unwrapper is implemented by drivers that wrap another (metrics, logging):
// optional interfaces of the wrapped driver are found through it.
type Unwrapper interface {
	Unwrap() Driver
}

// As finds an optional interface T on d or on the drivers it wraps.
func As[T any](d Driver) (T, bool) {
	for d != nil {
		if v, ok := d.(T); ok {
			return v, true
		}
		u, ok := d.(Unwrapper)
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	var zero T
	return zero, false
}
