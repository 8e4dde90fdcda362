package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

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

// decodeJSON decodes the body into dst strictly: unknown members, wrong types
// and anything after the value are 400 invalid_body, naming the member where
// the decoder knows it. An empty body decodes as {} when allowEmpty. The
// decoder copies every string, so nothing in dst aliases Fiber's buffer.
func decodeJSON(c *fiber.Ctx, dst any, allowEmpty bool) error {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest(CodeInvalidBody, "", "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(CodeInvalidBody, "", "the body must hold exactly one JSON value")
	}
	return nil
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
