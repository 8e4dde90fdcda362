package httpapi

import (
	"reflect"
	"testing"
)

// The "{}" shortcut must answer what the full decoder answers: nothing
// decoded and no error, into every request type, with or without spaces.
func TestDecodeEmptyObjectShortcut(t *testing.T) {
	for _, body := range []string{"{}", " {}\n", "\t{}"} {
		for _, dst := range []any{&claimRequest{}, &emptyRequest{}} {
			if err := decodeBody([]byte(body), dst, false); err != nil {
				t.Errorf("decodeBody(%q, %T) = %v, want nil", body, dst, err)
			}
			if !reflect.ValueOf(dst).Elem().IsZero() {
				t.Errorf("decodeBody(%q, %T) decoded %+v, want the zero value", body, dst, dst)
			}
		}
	}
	// Not a struct: the decoder runs and fills the map.
	m := map[string]any(nil)
	if err := decodeBody([]byte("{}"), &m, false); err != nil || m == nil {
		t.Errorf("decodeBody({}, map) = %v, %v; want an empty map", m, err)
	}
	// Anything else still goes through the walk: "{ }" with a member is checked.
	if err := decodeBody([]byte(`{"Seat":"A1"}`), &claimRequest{}, false); err == nil {
		t.Errorf("decodeBody with a wrongly cased member = nil, want an error")
	}
}
