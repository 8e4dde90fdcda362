package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"

	"github.com/fastdeal/fastdeal/domain/drop"
)

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Report fields by their JSON names, the names clients sent.
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(v.RegisterValidation("seatlabel", func(fl validator.FieldLevel) bool { return drop.ValidSeatLabel(fl.Field().String()) }))
	must(v.RegisterValidation("dropid", func(fl validator.FieldLevel) bool { return drop.ValidID(fl.Field().String()) }))
	return v
}

// decodeJSON decodes the body into dst strictly: invalid UTF-8, member names
// that are not spelled exactly as dst's, members given twice, unknown
// members, wrong types and anything after the value are 400 invalid_body,
// naming the member where it is known; a string holding a control or bidi
// override character is 422 naming its member. An empty body decodes as {}
// when allowEmpty. The decoder copies every string, so nothing in dst aliases
// Fiber's buffer.
func decodeJSON(c *fiber.Ctx, dst any, allowEmpty bool) error {
	return decodeBody(c.Body(), dst, allowEmpty)
}

// decodeBody is decodeJSON over a byte slice, for tests and fuzzing.
func decodeBody(body []byte, dst any, allowEmpty bool) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest(CodeInvalidBody, "", "the body must be a JSON object")
	}
	// "{}" is what most claims send; into a struct it decodes to nothing, so
	// it skips the member walk and the decoder (6% of a claim's CPU).
	if string(trimmed) == "{}" {
		if t := reflect.TypeOf(dst); t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
			return nil
		}
	}
	if !utf8.Valid(body) {
		return badRequest(CodeInvalidBody, "", "the body is not valid UTF-8")
	}
	// encoding/json matches names case-insensitively and keeps the last of
	// duplicates, so the raw members are checked first; a syntax error found
	// there is left to the decoder below, whose messages are the API's.
	bad, err := checkMembers(body, reflect.TypeOf(dst))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(CodeInvalidBody, "", "the body must hold exactly one JSON value")
	}
	if bad != nil {
		return bad
	}
	return nil
}

// memberChecker walks a body's tokens beside the Go type they decode into.
type memberChecker struct {
	body []byte
	dec  *json.Decoder
	// bad is the first string with a forbidden character: a 422 reported
	// only once the body proved well-formed, so a 400 wins over it.
	bad *apiError
}

// errWalk stops a walk at a syntax error; decoding the body reports it.
var errWalk = errors.New("malformed JSON")

// checkMembers returns a 400 for a member spelled unlike the Go field, a
// member given twice or a lone UTF-16 surrogate escape, and separately the
// first string holding a forbidden character.
func checkMembers(body []byte, t reflect.Type) (*apiError, error) {
	w := &memberChecker{body: body, dec: json.NewDecoder(bytes.NewReader(body))}
	w.dec.UseNumber()
	err := w.value(t, "", 0)
	var ae *apiError
	if errors.As(err, &ae) {
		return nil, ae
	}
	return w.bad, nil
}

// maxDepth bounds the nesting the walk follows: the API's bodies nest two
// deep, and a body of a million '[' must not become a million stack frames.
const maxDepth = 32

// value checks the next value, which decodes into t (nil: anything). field
// is the top-level member the value belongs to, the one errors name.
func (w *memberChecker) value(t reflect.Type, field string, depth int) error {
	if depth > maxDepth {
		return badRequest(CodeInvalidBody, field, "the JSON nests too deeply")
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Implements(unmarshalerType) || t != nil && reflect.PointerTo(t).Implements(unmarshalerType) {
		t = nil // its own decoder decides what it accepts
	}
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err != nil {
		return errWalk
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return w.object(t, field, depth)
		}
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for w.dec.More() {
			if err := w.value(elem, field, depth+1); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return errWalk
		}
	case string:
		if loneSurrogate(w.body[start:w.dec.InputOffset()]) {
			return badRequest(CodeInvalidBody, field, fieldOrBody(field)+" holds an unpaired UTF-16 surrogate escape")
		}
		if w.bad == nil && !cleanString(v) {
			w.bad = invalidField(field, fieldOrBody(field)+" holds a control character or a bidirectional override")
		}
	}
	return nil
}

func (w *memberChecker) object(t reflect.Type, field string, depth int) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	seen := make(map[string]struct{})
	for w.dec.More() {
		start := w.dec.InputOffset()
		tok, err := w.dec.Token()
		if err != nil {
			return errWalk
		}
		name, _ := tok.(string)
		top := field
		if top == "" {
			top = reportable(name)
		}
		if loneSurrogate(w.body[start:w.dec.InputOffset()]) {
			return badRequest(CodeInvalidBody, top, "a member name holds an unpaired UTF-16 surrogate escape")
		}
		if _, dup := seen[name]; dup {
			return badRequest(CodeInvalidBody, top, memberName(name)+" is given twice")
		}
		seen[name] = struct{}{}
		var ft reflect.Type
		if fields != nil {
			var ok bool
			if ft, ok = fields[name]; !ok {
				// encoding/json would have taken it for a field spelled
				// otherwise; the API matches names exactly.
				return badRequest(CodeInvalidBody, top, "unknown "+memberName(name))
			}
		}
		if field == "" && w.bad == nil && !cleanString(name) {
			w.bad = invalidField("", "a member name holds a control character or a bidirectional override")
		}
		if err := w.value(ft, top, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return errWalk
	}
	return nil
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	fieldCache      sync.Map // reflect.Type -> map[string]reflect.Type
)

// jsonFields maps the exact member names of a struct to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}

// reportable is a member name safe to repeat in an answer: one that could be
// a real member. Anything else is reported without its name, so an answer
// never carries arbitrary client bytes.
func reportable(name string) string {
	if name == "" || len(name) > 64 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return ""
		}
	}
	return name
}

func memberName(name string) string {
	if r := reportable(name); r != "" {
		return fmt.Sprintf("member %q", r)
	}
	return "a member"
}

func fieldOrBody(field string) string {
	if field == "" {
		return "a string"
	}
	return field
}

// cleanString reports whether s has no control character (U+0000-U+001F,
// U+007F) and no bidirectional override or isolate (U+202A-U+202E,
// U+2066-U+2069): they rewrite what an operator's terminal or a buyer's
// page shows.
func cleanString(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return false
		}
	}
	return true
}

// loneSurrogate reports whether the raw JSON string token tok has a \u
// escape of a UTF-16 surrogate that is not part of a high-low pair: the
// decoder would silently store U+FFFD for it.
func loneSurrogate(tok []byte) bool {
	for i := 0; i < len(tok); i++ {
		if tok[i] != '\\' {
			continue
		}
		if i+1 < len(tok) && tok[i+1] != 'u' {
			i++ // an escaped character, possibly a backslash
			continue
		}
		r, ok := hex4(tok, i+2)
		if !ok {
			continue
		}
		switch {
		case r >= 0xd800 && r < 0xdc00:
			lo, ok := rune(0), false
			if i+7 < len(tok) && tok[i+6] == '\\' && tok[i+7] == 'u' {
				lo, ok = hex4(tok, i+8)
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		default:
			i += 5
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func bodyError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badRequest(CodeInvalidBody, "", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest(CodeInvalidBody, "", "the body must be a JSON object")
		}
		field := jsonField(typ.Field)
		return badRequest(CodeInvalidBody, field, fmt.Sprintf("%s must be %s, not %s", field, kindName(typ.Type), typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(CodeInvalidBody, "", "the JSON ends too early")
	}
	// encoding/json has no type for unknown members; its message is stable.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return badRequest(CodeInvalidBody, name, fmt.Sprintf("unknown member %q", name))
	}
	return badRequest(CodeInvalidBody, "", "the body is not valid JSON")
}

// jsonField turns the decoder's dotted path ("seats.3") into the member name.
func jsonField(path string) string {
	name, _, _ := strings.Cut(path, ".")
	return name
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// validateStruct runs the DTO's rules; the first failure is a 422 naming its field.
func (s *Server) validateStruct(dto any) error {
	err := s.validate.Struct(dto)
	if err == nil {
		return nil
	}
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) || len(ves) == 0 {
		return err
	}
	fe := ves[0]
	// A failure inside a list ("seats[3]") is reported on the list, as the
	// domain does; the detail keeps the index.
	field, _, _ := strings.Cut(fe.Field(), "[")
	return invalidField(field, ruleDetail(fe))
}

func ruleDetail(fe validator.FieldError) string {
	f := fe.Field()
	switch fe.Tag() {
	case "required":
		return f + " is required"
	case "max":
		if fe.Kind() == reflect.String || fe.Kind() == reflect.Slice {
			return fmt.Sprintf("%s must have at most %s items or characters", f, fe.Param())
		}
		return fmt.Sprintf("%s must be at most %s", f, fe.Param())
	case "min":
		return fmt.Sprintf("%s must be at least %s", f, fe.Param())
	case "oneof":
		return fmt.Sprintf("%s must be one of: %s", f, fe.Param())
	case "unique":
		return f + " must not repeat a value"
	case "seatlabel":
		return fmt.Sprintf("%s: a seat label is 1 to %d of [A-Za-z0-9_-]", f, drop.MaxSeatLabelLen)
	case "dropid":
		return f + ": an id is 1 to 64 of [A-Za-z0-9_-]"
	}
	return fmt.Sprintf("%s breaks the rule %q", f, fe.Tag())
}

// parseTime reads an RFC 3339 member; a malformed one is a body error naming it.
func parseTime(field string, v *string) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return time.Time{}, badRequest(CodeInvalidBody, field, field+" must be an RFC 3339 time, e.g. 2026-05-01T18:00:00Z")
	}
	return t, nil
}

// validHeaderToken reports whether s is 1 to limit printable ASCII characters.
func validHeaderToken(s string, limit int) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
