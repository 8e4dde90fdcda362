package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReadEnvFile reads KEY=VALUE lines literally, as infra/local/stack does:
// blank lines and # comments skipped, one pair of quotes stripped. A missing
// file is empty.
func ReadEnvFile(t testing.TB, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out
}

// StackSettings is infra/stack.env overridden by .env, under the repository
// root: the script's precedence, short of the process environment, which
// wins over both and is the caller's to consult.
func StackSettings(t testing.TB, root string) map[string]string {
	t.Helper()
	settings := map[string]string{}
	for _, f := range []string{filepath.Join(root, "infra", "stack.env"), filepath.Join(root, ".env")} {
		for k, v := range ReadEnvFile(t, f) {
			settings[k] = v
		}
	}
	return settings
}
