package httpapi

import (
	"time"
	"unicode/utf8"
)

// The claim's 201 is built by hand, as the line's answers are: encoding/json
// walked the structs by reflection for 3% of a claim's server CPU. The output
// is byte for byte what encoding/json writes (TestHandBuiltJSONMatches,
// FuzzAppendJSONString).

// appendClaimIssued appends {"status":"issued","issuance":{...}}.
func appendClaimIssued(b []byte, iss IssuanceJSON) []byte {
	b = append(b, `{"status":"issued","issuance":`...)
	b = appendIssuance(b, iss)
	return append(b, '}')
}

// appendIssuance appends iss as encoding/json would.
func appendIssuance(b []byte, iss IssuanceJSON) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, iss.ID)
	b = append(b, `,"drop_id":`...)
	b = appendJSONString(b, iss.DropID)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, iss.UserID)
	b = append(b, `,"seat":`...)
	b = appendJSONString(b, iss.Seat)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, iss.Code)
	b = append(b, `,"issued_at":"`...)
	b = iss.IssuedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendJSONString appends s quoted as encoding/json quotes a string by
// default: with <, > and & escaped, invalid UTF-8 as U+FFFD, and U+2028 and
// U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
