package e2e_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
)

// TestMalformedRequests sends what the API reference's errors (docs/openapi.yaml) rejects and checks
// each answer: exact status, problem+json, stable code, never a 500.
func TestMalformedRequests(t *testing.T) {
	const bodyLimit = 2 << 20
	s := newStack(t, stackOptions{cfg: httpapi.Config{BodyLimit: bodyLimit, RatePerUser: -1}})
	js := newStack(t, stackOptions{cfg: httpapi.Config{JWTSecret: jwtSecret}})

	for _, st := range []*stack{s, js} {
		st.createDrop(map[string]any{"id": "gen", "name": "General", "kind": "general", "stock": 10})
		st.createDrop(map[string]any{"id": "seated", "name": "Seated", "kind": "seated", "seats": []string{"A-1", "A-2"}})
	}
	s.createDrop(map[string]any{"id": "queued", "name": "Queued", "kind": "general", "stock": 5,
		"admission": "queued"})
	s.createDrop(map[string]any{"id": "later", "name": "Later", "kind": "general", "stock": 5,
		"opens_at": time.Now().Add(time.Hour).Format(time.RFC3339)})

	create := func(extra map[string]any) string {
		body := map[string]any{"name": "N", "kind": "general", "stock": 1}
		for k, v := range extra {
			if v == nil {
				delete(body, k)
				continue
			}
			body[k] = v
		}
		return mustJSON(t, body)
	}
	seats := func(labels []string) string {
		return create(map[string]any{"kind": "seated", "stock": nil, "seats": labels})
	}
	buyer := user("buyer-1")
	now := time.Now()

	cases := []struct {
		name   string
		on     *stack
		r      req
		status int
		code   string
		field  string
	}{
		// Admin create: malformed bodies.
		{"bad JSON", s, req{"POST", "/v1/admin/drops", `{"name":`, admin()}, 400, "invalid_body", ""},
		{"not JSON", s, req{"POST", "/v1/admin/drops", `name=x`, admin()}, 400, "invalid_body", ""},
		{"empty body", s, req{"POST", "/v1/admin/drops", ``, admin()}, 400, "invalid_body", ""},
		{"array body", s, req{"POST", "/v1/admin/drops", `[]`, admin()}, 400, "invalid_body", ""},
		{"unknown field", s, req{"POST", "/v1/admin/drops", create(map[string]any{"colour": "red"}), admin()}, 400, "invalid_body", "colour"},
		{"trailing data", s, req{"POST", "/v1/admin/drops", create(nil) + `{}`, admin()}, 400, "invalid_body", ""},
		{"stock wrong type", s, req{"POST", "/v1/admin/drops", create(map[string]any{"stock": "ten"}), admin()}, 400, "invalid_body", "stock"},
		{"stock fractional", s, req{"POST", "/v1/admin/drops", create(map[string]any{"stock": 1.5}), admin()}, 400, "invalid_body", "stock"},
		{"stock beyond int64", s, req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":1e30}`, admin()}, 400, "invalid_body", "stock"},
		{"seats wrong type", s, req{"POST", "/v1/admin/drops", `{"name":"N","kind":"seated","seats":[1,2]}`, admin()}, 400, "invalid_body", "seats"},
		{"opens_at not a time", s, req{"POST", "/v1/admin/drops", create(map[string]any{"opens_at": "tomorrow"}), admin()}, 400, "invalid_body", "opens_at"},
		// Admin create: well-formed bodies that break a rule.
		{"missing name", s, req{"POST", "/v1/admin/drops", create(map[string]any{"name": nil}), admin()}, 422, "validation_failed", "name"},
		{"blank name", s, req{"POST", "/v1/admin/drops", create(map[string]any{"name": "   "}), admin()}, 422, "validation_failed", "name"},
		{"name over 200", s, req{"POST", "/v1/admin/drops", create(map[string]any{"name": strings.Repeat("é", 201)}), admin()}, 422, "validation_failed", "name"},
		{"region over 100", s, req{"POST", "/v1/admin/drops", create(map[string]any{"region": strings.Repeat("r", 101)}), admin()}, 422, "validation_failed", "region"},
		{"venue over 100", s, req{"POST", "/v1/admin/drops", create(map[string]any{"venue": strings.Repeat("v", 101)}), admin()}, 422, "validation_failed", "venue"},
		{"unknown kind", s, req{"POST", "/v1/admin/drops", create(map[string]any{"kind": "vip"}), admin()}, 422, "validation_failed", "kind"},
		{"negative stock", s, req{"POST", "/v1/admin/drops", create(map[string]any{"stock": -1}), admin()}, 422, "validation_failed", "stock"},
		{"stock 0", s, req{"POST", "/v1/admin/drops", create(map[string]any{"stock": 0}), admin()}, 422, "validation_failed", "stock"},
		{"no stock", s, req{"POST", "/v1/admin/drops", create(map[string]any{"stock": nil}), admin()}, 422, "validation_failed", "stock"},
		{"stock over 10M", s, req{"POST", "/v1/admin/drops", create(map[string]any{"stock": 10_000_001}), admin()}, 422, "validation_failed", "stock"},
		{"seats over 100k", s, req{"POST", "/v1/admin/drops", seats(seatLabels(100_001)), admin()}, 422, "validation_failed", "seats"},
		{"no seats", s, req{"POST", "/v1/admin/drops", seats([]string{}), admin()}, 422, "validation_failed", "seats"},
		{"bad seat label", s, req{"POST", "/v1/admin/drops", seats([]string{"A-1", "A 2"}), admin()}, 422, "validation_failed", "seats"},
		{"seat label over 32", s, req{"POST", "/v1/admin/drops", seats([]string{strings.Repeat("A", 33)}), admin()}, 422, "validation_failed", "seats"},
		{"duplicate seat", s, req{"POST", "/v1/admin/drops", seats([]string{"A-1", "A-2", "A-1"}), admin()}, 422, "validation_failed", "seats"},
		{"seats on general", s, req{"POST", "/v1/admin/drops", create(map[string]any{"seats": []string{"A"}}), admin()}, 422, "validation_failed", "seats"},
		{"per_user_limit 0", s, req{"POST", "/v1/admin/drops", create(map[string]any{"per_user_limit": 0}), admin()}, 422, "validation_failed", "per_user_limit"},
		{"per_user_limit 101", s, req{"POST", "/v1/admin/drops", create(map[string]any{"per_user_limit": 101}), admin()}, 422, "validation_failed", "per_user_limit"},
		{"admit_rate 0", s, req{"POST", "/v1/admin/drops", create(map[string]any{"admit_rate": 0}), admin()}, 422, "validation_failed", "admit_rate"},
		{"admit_rate over 1M", s, req{"POST", "/v1/admin/drops", create(map[string]any{"admit_rate": 1_000_001}), admin()}, 422, "validation_failed", "admit_rate"},
		{"pass_ttl 0", s, req{"POST", "/v1/admin/drops", create(map[string]any{"pass_ttl_seconds": 0}), admin()}, 422, "validation_failed", "pass_ttl_seconds"},
		{"unknown admission", s, req{"POST", "/v1/admin/drops", create(map[string]any{"admission": "lottery"}), admin()}, 422, "validation_failed", "admission"},
		{"bad id in body", s, req{"POST", "/v1/admin/drops", create(map[string]any{"id": "a/b"}), admin()}, 422, "validation_failed", "id"},
		{"closes before opens", s, req{"POST", "/v1/admin/drops", create(map[string]any{
			"opens_at": now.Add(time.Hour).Format(time.RFC3339), "closes_at": now.Format(time.RFC3339)}), admin()}, 422, "validation_failed", "closes_at"},
		{"existing id", s, req{"POST", "/v1/admin/drops", create(map[string]any{"id": "gen"}), admin()}, 409, "drop_exists", ""},
		{"body over limit", s, req{"POST", "/v1/admin/drops", bigBody(bodyLimit + 1), admin()}, 413, "body_too_large", ""},

		// Ids in paths.
		{"id of 65", s, req{"GET", "/v1/drops/" + strings.Repeat("a", 65), "", nil}, 400, "invalid_id", ""},
		{"id with a dot", s, req{"GET", "/v1/drops/bad.id", "", nil}, 400, "invalid_id", ""},
		{"id with escapes", s, req{"GET", "/v1/drops/bad%20id", "", nil}, 400, "invalid_id", ""},
		{"unknown drop", s, req{"GET", "/v1/drops/nope", "", nil}, 404, "drop_not_found", ""},
		{"claim bad id", s, req{"POST", "/v1/drops/bad!/claims", "{}", buyer}, 400, "invalid_id", ""},
		{"claim unknown drop", s, req{"POST", "/v1/drops/nope/claims", "{}", buyer}, 404, "drop_not_found", ""},
		{"stats unknown drop", s, req{"GET", "/v1/admin/drops/nope/stats", "", admin()}, 404, "drop_not_found", ""},
		{"issuances unknown drop", s, req{"GET", "/v1/admin/drops/nope/issuances", "", admin()}, 404, "drop_not_found", ""},
		{"reconcile bad id", s, req{"POST", "/v1/admin/drops/" + strings.Repeat("z", 65) + "/reconcile", "", admin()}, 400, "invalid_id", ""},

		// Query strings.
		{"bad status query", s, req{"GET", "/v1/drops?status=soon", "", nil}, 400, "invalid_query", "status"},
		{"bad available query", s, req{"GET", "/v1/drops/seated/seats?available=maybe", "", nil}, 400, "invalid_query", "available"},
		{"seats of general drop", s, req{"GET", "/v1/drops/gen/seats", "", nil}, 422, "seat_not_allowed", ""},

		// Buyer identity without a JWT secret.
		{"missing X-User-ID", s, req{"POST", "/v1/drops/gen/claims", "{}", nil}, 401, "unauthorized", ""},
		{"bad X-User-ID", s, req{"POST", "/v1/drops/gen/claims", "{}", user("bad.user")}, 400, "invalid_user_id", ""},
		{"X-User-ID over 64", s, req{"GET", "/v1/me/issuances", "", user(strings.Repeat("u", 65))}, 400, "invalid_user_id", ""},

		// Buyer identity with a JWT secret.
		{"missing token", js, req{"POST", "/v1/drops/gen/claims", "{}", nil}, 401, "unauthorized", ""},
		{"X-User-ID ignored with a secret", js, req{"POST", "/v1/drops/gen/claims", "{}", user("buyer-1")}, 401, "unauthorized", ""},
		{"not a bearer", js, req{"POST", "/v1/drops/gen/claims", "{}", map[string]string{"Authorization": "Basic dTpw"}}, 401, "invalid_token", ""},
		{"forged token", js, req{"POST", "/v1/drops/gen/claims", "{}", bearer(token(t, "another-secret", "buyer-1", now.Add(time.Hour)))}, 401, "invalid_token", ""},
		{"expired token", js, req{"POST", "/v1/drops/gen/claims", "{}", bearer(token(t, jwtSecret, "buyer-1", now.Add(-time.Minute)))}, 401, "invalid_token", ""},
		{"token without exp", js, req{"GET", "/v1/me/issuances", "", bearer(tokenNoExp(t))}, 401, "invalid_token", ""},
		{"token with bad sub", js, req{"GET", "/v1/me/issuances", "", bearer(token(t, jwtSecret, "a b", now.Add(time.Hour)))}, 401, "invalid_token", ""},
		{"garbage token", js, req{"GET", "/v1/me/issuances", "", bearer("not.a.jwt")}, 401, "invalid_token", ""},

		// Admin identity.
		{"missing admin token", s, req{"POST", "/v1/admin/drops", create(nil), nil}, 401, "unauthorized", ""},
		{"wrong admin token", s, req{"POST", "/v1/admin/drops", create(nil), bearer("guess")}, 401, "unauthorized", ""},
		{"buyer header on admin route", s, req{"GET", "/v1/admin/drops/gen/stats", "", user("buyer-1")}, 401, "unauthorized", ""},
		{"buyer token on admin route", js, req{"GET", "/v1/admin/drops/gen/stats", "", bearer(token(t, jwtSecret, "buyer-1", now.Add(time.Hour)))}, 403, "forbidden", ""},
		{"buyer token on admin create", js, req{"POST", "/v1/admin/drops", create(nil), bearer(token(t, jwtSecret, "buyer-1", now.Add(time.Hour)))}, 403, "forbidden", ""},

		// Claims.
		{"claim bad JSON", s, req{"POST", "/v1/drops/gen/claims", `{"seat"`, buyer}, 400, "invalid_body", ""},
		{"claim unknown field", s, req{"POST", "/v1/drops/gen/claims", `{"qty":2}`, buyer}, 400, "invalid_body", "qty"},
		{"claim seat wrong type", s, req{"POST", "/v1/drops/seated/claims", `{"seat":12}`, buyer}, 400, "invalid_body", "seat"},
		{"seat on general drop", s, req{"POST", "/v1/drops/gen/claims", `{"seat":"A-1"}`, buyer}, 422, "seat_not_allowed", ""},
		{"missing seat on seated drop", s, req{"POST", "/v1/drops/seated/claims", `{}`, buyer}, 422, "seat_required", ""},
		{"unknown seat", s, req{"POST", "/v1/drops/seated/claims", `{"seat":"Z-9"}`, buyer}, 422, "unknown_seat", ""},
		{"claim on queued general drop", s, req{"POST", "/v1/drops/queued/claims", `{}`, buyer}, 403, "not_admitted", ""},
		{"claim before opening", s, req{"POST", "/v1/drops/later/claims", `{}`, buyer}, 409, "drop_not_open", ""},
		{"idempotency key over 128", s, req{"POST", "/v1/drops/gen/claims", `{}`, userKey("buyer-1", strings.Repeat("k", 129))}, 400, "invalid_idempotency_key", ""},
		{"idempotency key not ASCII", s, req{"POST", "/v1/drops/gen/claims", `{}`, userKey("buyer-1", "clé")}, 400, "invalid_idempotency_key", ""},

		// The waiting line.
		{"line on open drop", s, req{"POST", "/v1/drops/gen/line", "", buyer}, 409, "drop_not_queued", ""},
		{"line body unknown field", s, req{"POST", "/v1/drops/queued/line", `{"vip":true}`, buyer}, 400, "invalid_body", "vip"},
		{"status not in line", s, req{"GET", "/v1/drops/queued/line/me", "", buyer}, 404, "not_in_line", ""},
		{"leave not in line", s, req{"DELETE", "/v1/drops/queued/line/me", "", buyer}, 404, "not_in_line", ""},
		{"status on open drop", s, req{"GET", "/v1/drops/gen/line/me", "", buyer}, 409, "drop_not_queued", ""},

		// PATCH.
		{"patch admit_rate 0", s, req{"PATCH", "/v1/admin/drops/gen", `{"admit_rate":0}`, admin()}, 422, "validation_failed", "admit_rate"},
		{"patch admit_rate over 1M", s, req{"PATCH", "/v1/admin/drops/gen", `{"admit_rate":1000001}`, admin()}, 422, "validation_failed", "admit_rate"},
		{"patch admit_rate wrong type", s, req{"PATCH", "/v1/admin/drops/gen", `{"admit_rate":"fast"}`, admin()}, 400, "invalid_body", "admit_rate"},
		{"patch paused wrong type", s, req{"PATCH", "/v1/admin/drops/gen", `{"paused":"yes"}`, admin()}, 400, "invalid_body", "paused"},
		{"patch closes_at not a time", s, req{"PATCH", "/v1/admin/drops/gen", `{"closes_at":"soon"}`, admin()}, 400, "invalid_body", "closes_at"},
		{"patch closes_at a number", s, req{"PATCH", "/v1/admin/drops/gen", `{"closes_at":5}`, admin()}, 400, "invalid_body", "closes_at"},
		{"patch closes_at before opens_at", s, req{"PATCH", "/v1/admin/drops/later", mustJSON(t, map[string]any{"closes_at": now.Format(time.RFC3339)}), admin()}, 422, "validation_failed", "closes_at"},
		{"patch unknown field", s, req{"PATCH", "/v1/admin/drops/gen", `{"stock":5}`, admin()}, 400, "invalid_body", "stock"},
		{"patch empty body", s, req{"PATCH", "/v1/admin/drops/gen", ``, admin()}, 400, "invalid_body", ""},
		{"patch unknown drop", s, req{"PATCH", "/v1/admin/drops/nope", `{"paused":true}`, admin()}, 404, "drop_not_found", ""},
		{"patch bad id", s, req{"PATCH", "/v1/admin/drops/b@d", `{"paused":true}`, admin()}, 400, "invalid_id", ""},

		// Routing.
		{"unknown route", s, req{"GET", "/v1/nothing-here", "", nil}, 404, "not_found", ""},
		{"unknown admin route", s, req{"GET", "/v1/admin/everything", "", admin()}, 404, "not_found", ""},
		{"wrong method", s, req{"PUT", "/v1/drops/gen", "{}", nil}, 405, "method_not_allowed", ""},
	}
	type tcase = struct {
		name   string
		on     *stack
		r      req
		status int
		code   string
		field  string
	}
	add := func(name string, on *stack, r req, status int, code, field string) {
		cases = append(cases, tcase{name, on, r, status, code, field})
	}

	// Strict input (docs/openapi.yaml): member names match exactly, a member is given
	// once, strings hold no control or bidi character, bodies are UTF-8.
	createMembers := []string{"id", "name", "kind", "region", "venue", "stock", "seats", "per_user_limit",
		"opens_at", "closes_at", "admission", "admit_rate", "pass_ttl_seconds", "paused"}
	memberValue := map[string]string{"id": `"x1"`, "name": `"N"`, "kind": `"general"`, "region": `"r"`, "venue": `"v"`,
		"stock": `1`, "seats": `["A-1"]`, "per_user_limit": `1`, "opens_at": `null`, "closes_at": `null`,
		"admission": `"open"`, "admit_rate": `5`, "pass_ttl_seconds": `60`, "paused": `false`}
	for _, m := range createMembers {
		upper := strings.ToUpper(m)
		add("create member "+upper, s, req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":1,"` + upper + `":` + memberValue[m] + `}`, admin()}, 400, "invalid_body", upper)
		title := strings.ToUpper(m[:1]) + m[1:]
		add("create member "+title, s, req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":1,"` + title + `":` + memberValue[m] + `}`, admin()}, 400, "invalid_body", title)
		body := `{"name":"N","kind":"general","stock":1`
		if m != "name" && m != "kind" && m != "stock" {
			body += `,"` + m + `":` + memberValue[m]
		}
		add("create member "+m+" twice", s, req{"POST", "/v1/admin/drops", body + `,"` + m + `":` + memberValue[m] + `}`, admin()}, 400, "invalid_body", m)
	}
	forbidden := map[string]string{"NUL": `\u0000`, "ESC": `\u001b`, "DEL": `\u007f`, "RLO": `\u202e`, "LRI": `\u2066`, "BEL": `\u0007`}
	for _, m := range []string{"id", "name", "kind", "region", "venue", "opens_at", "closes_at", "admission"} {
		for cname, ch := range forbidden {
			body := `{"name":"N","kind":"general","stock":1`
			if m == "name" || m == "kind" {
				body = strings.Replace(body, `"`+m+`":"`, `"`+m+`":"a`+ch, 1) + `}`
			} else {
				body += `,"` + m + `":"a` + ch + `b"}`
			}
			add(cname+" in create "+m, s, req{"POST", "/v1/admin/drops", body, admin()}, 422, "validation_failed", m)
		}
	}
	badUTF8 := map[string]string{"lone byte": "\xff", "bad continuation": "\xc3\x28", "truncated": "\xe2\x82",
		"overlong slash": "\xc0\xaf", "surrogate bytes": "\xed\xa0\x80", "beyond U+10FFFF": "\xf4\x90\x80\x80"}
	for bname, b := range badUTF8 {
		add("create name "+bname, s, req{"POST", "/v1/admin/drops", `{"name":"N` + b + `","kind":"general","stock":1}`, admin()}, 400, "invalid_body", "")
		add("claim seat "+bname, s, req{"POST", "/v1/drops/seated/claims", `{"seat":"A` + b + `"}`, buyer}, 400, "invalid_body", "")
		add("patch closes_at "+bname, s, req{"PATCH", "/v1/admin/drops/gen", `{"closes_at":"` + b + `"}`, admin()}, 400, "invalid_body", "")
	}
	for _, pc := range []struct{ body, field string }{
		{`{"ADMIT_RATE":5}`, "ADMIT_RATE"}, {`{"Paused":true}`, "Paused"}, {`{"Closes_At":null}`, "Closes_At"},
		{`{"admit_rate":5,"admit_rate":6}`, "admit_rate"}, {`{"paused":true,"paused":true}`, "paused"},
		{`{"closes_at":null,"closes_at":"2030-01-01T00:00:00Z"}`, "closes_at"}, {`{"paused":true,"PAUSED":false}`, "PAUSED"},
	} {
		add("patch "+pc.body, s, req{"PATCH", "/v1/admin/drops/gen", pc.body, admin()}, 400, "invalid_body", pc.field)
	}
	for _, cc := range []struct{ body, field string }{
		{`{"SEAT":"A-1"}`, "SEAT"}, {`{"Seat":"A-1"}`, "Seat"}, {`{"sEaT":"A-1"}`, "sEaT"},
		{`{"seat":"A-1","seat":"A-2"}`, "seat"}, {`{"seat":"A-1","Seat":"A-2"}`, "Seat"},
	} {
		add("claim "+cc.body, s, req{"POST", "/v1/drops/seated/claims", cc.body, buyer}, 400, "invalid_body", cc.field)
	}
	add("claim seat with RLO", s, req{"POST", "/v1/drops/seated/claims", `{"seat":"A\u202e1"}`, buyer}, 422, "validation_failed", "seat")
	add("line body member in upper case", s, req{"POST", "/v1/drops/queued/line", `{"SEAT":"A-1"}`, buyer}, 400, "invalid_body", "SEAT")
	add("line body invalid UTF-8", s, req{"POST", "/v1/drops/queued/line", "{\"a\xff\":1}", buyer}, 400, "invalid_body", "")
	add("unknown member with odd bytes is not echoed", s, req{"POST", "/v1/admin/drops", `{"name":"N","kind":"general","stock":1,"a b<script>":1}`, admin()}, 400, "invalid_body", "")

	// Ids in paths, on every route that takes one.
	for _, id := range []string{"a:b", "a~b", "a!b", "a$b", "a'b", "a(b", "a*b", "a+b", "a,b", "a;b", "a=b", "a@b", "%C3%A9", "a%00b", "a%2Fb"} {
		add("GET drop "+id, s, req{"GET", "/v1/drops/" + id, "", nil}, 400, "invalid_id", "")
	}
	for _, rt := range []struct{ method, path string }{
		{"GET", "/v1/drops/b.d/seats"}, {"POST", "/v1/drops/b.d/line"}, {"GET", "/v1/drops/b.d/line/me"},
		{"DELETE", "/v1/drops/b.d/line/me"}, {"GET", "/v1/admin/drops/b.d/stats"}, {"GET", "/v1/admin/drops/b.d/issuances"},
	} {
		h := buyer
		if strings.Contains(rt.path, "/admin/") {
			h = admin()
		}
		add(rt.method+" "+rt.path, s, req{rt.method, rt.path, "", h}, 400, "invalid_id", "")
	}

	// Credentials that are wrong: refused, and never repeated in the answer.
	for _, id := range []string{"buyer one", "buyer.one", "buyer/one", "büyer", "buyer:one", strings.Repeat("b", 65), "<script>buyer"} {
		add("X-User-ID "+id[:min(len(id), 12)], s, req{"GET", "/v1/me/issuances", "", user(id)}, 400, "invalid_user_id", "")
	}
	for _, h := range []string{"Bearer wrong-admin-token-1", "Bearer " + adminToken + "x", "Token " + adminToken, "Bearer  ", adminToken, "Basic ZTJlOmFkbWlu"} {
		add("admin Authorization "+h[:min(len(h), 14)], s, req{"GET", "/v1/admin/drops/gen/stats", "", map[string]string{"Authorization": h}}, 401, "unauthorized", "")
	}
	for name, tok := range map[string]string{
		"alg none":           "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJidXllci0xIiwiZXhwIjo0MTAyNDQ0ODAwfQ.",
		"two parts":          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJidXllci0xIn0",
		"four parts":         "a.b.c.d",
		"empty subject":      token(t, jwtSecret, "", now.Add(time.Hour)),
		"not base64":         "!!!.???.***",
		"admin token as jwt": adminToken,
	} {
		add("JWT "+name, js, req{"GET", "/v1/me/issuances", "", bearer(tok)}, 401, "invalid_token", "")
	}
	add("idempotency key with a tab", s, req{"POST", "/v1/drops/gen/claims", `{}`, userKey("buyer-1", "key\twith-tab")}, 400, "invalid_idempotency_key", "")
	add("idempotency key not ASCII", s, req{"POST", "/v1/drops/gen/claims", `{}`, userKey("buyer-1", "key\u00e9-secret-k")}, 400, "invalid_idempotency_key", "")

	if len(cases) < 200 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.on.t = t
			r := tc.on.do(tc.r)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			var p problemBody
			r.decode(t, &p)
			if p.Code != tc.code || p.Status != tc.status || p.Type != "about:blank" || p.Title == "" || p.Detail == "" {
				t.Fatalf("problem %+v, want code %q status %d with type, title and detail", p, tc.code, tc.status)
			}
			if tc.field != "" && p.Field != tc.field {
				t.Fatalf("field %q, want %q (%s)", p.Field, tc.field, p.Detail)
			}
			if r.header.Get("X-Request-ID") == "" {
				t.Fatal("no X-Request-ID")
			}
			if r.status >= 500 {
				t.Fatalf("server error %d", r.status)
			}
			// Headers carry credentials: no answer repeats one.
			for k, v := range tc.r.headers {
				if len(v) < 6 || strings.EqualFold(k, "X-Request-ID") {
					continue
				}
				answer := string(r.body)
				for hk, hv := range r.header {
					answer += "\n" + hk + ": " + strings.Join(hv, ",")
				}
				if strings.Contains(answer, v) || strings.Contains(answer, strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))) && len(strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))) >= 6 {
					t.Fatalf("the answer repeats the %s header: %s", k, answer)
				}
			}
		})
	}
	s.t, js.t = t, t

	// None of the rejected admin calls created anything.
	var list struct {
		Drops []dropBody `json:"drops"`
	}
	s.do(req{"GET", "/v1/drops", "", nil}).expect(t, 200).decode(t, &list)
	if len(list.Drops) != 4 {
		t.Fatalf("%d drops after rejected creates, want 4: %+v", len(list.Drops), list.Drops)
	}
}

// tokenNoExp is a correctly signed token that never expires, which docs/openapi.yaml forbids.
func tokenNoExp(t *testing.T) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "buyer-1"}).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestProblemShape pins the RFC 9457 members of one problem exactly.
func TestProblemShape(t *testing.T) {
	s := newStack(t, stackOptions{})
	r := s.do(req{"GET", "/v1/drops/nope", "", map[string]string{"X-Request-ID": "trace-123"}}).expect(t, 404)
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "about:blank", "title": "Not Found", "status": float64(404), "code": "drop_not_found", "request_id": "trace-123"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if d, _ := m["detail"].(string); d == "" {
		t.Error("no detail")
	}
	if got := r.header.Get("X-Request-ID"); got != "trace-123" {
		t.Errorf("X-Request-ID echoed %q", got)
	}
	if got := fmt.Sprint(r.header.Get("Content-Type")); got != "application/problem+json" {
		t.Errorf("Content-Type %q", got)
	}
}
