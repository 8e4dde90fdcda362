// Package arch checks the dependency rule of the hexagon from the real import
// graph, so the layering cannot rot quietly:
// domain <- application <- adapters <- bootstrap <- cmd.
package arch

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/fastdeal/fastdeal"

// imports returns each package of the module with its direct imports.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	graph := make(map[string][]string)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		graph[pkg] = strings.Fields(deps)
	}
	if len(graph) < 5 {
		t.Fatalf("go list found only %d packages; is the test running inside the module?", len(graph))
	}
	return graph
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func under(pkg, dir string) bool {
	p := module + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

func TestDomainImportsOnlyStdlibAndDomain(t *testing.T) {
	checked := 0
	for pkg, deps := range imports(t) {
		if !under(pkg, "domain") {
			continue
		}
		checked++
		for _, d := range deps {
			if !isStdlib(d) && !under(d, "domain") {
				t.Errorf("%s imports %s: domain/ may import the standard library only", pkg, d)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no domain packages found")
	}
}

func TestApplicationImportsNoAdaptersNorFx(t *testing.T) {
	checked := 0
	for pkg, deps := range imports(t) {
		if !under(pkg, "application") {
			continue
		}
		checked++
		for _, d := range deps {
			if under(d, "adapters") || under(d, "bootstrap") || strings.HasPrefix(d, "go.uber.org/fx") {
				t.Errorf("%s imports %s: application/ may use domain ports only, never adapters or fx", pkg, d)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no application packages found")
	}
}

func TestOnlyBootstrapImportsFx(t *testing.T) {
	for pkg, deps := range imports(t) {
		if under(pkg, "bootstrap") {
			continue
		}
		for _, d := range deps {
			if strings.HasPrefix(d, "go.uber.org/fx") {
				t.Errorf("%s imports %s: only bootstrap/ wires with fx", pkg, d)
			}
		}
	}
}

func TestAdaptersDoNotImportBootstrapOrEachOther(t *testing.T) {
	for pkg, deps := range imports(t) {
		if !under(pkg, "adapters") {
			continue
		}
		for _, d := range deps {
			if under(d, "bootstrap") || under(d, "cmd") {
				t.Errorf("%s imports %s: adapters sit below bootstrap", pkg, d)
			}
		}
	}
}

// TestRuleCatchesViolations guards the checks above against passing vacuously.
func TestRuleCatchesViolations(t *testing.T) {
	if isStdlib("github.com/x/y") || !isStdlib("net/http") {
		t.Fatal("isStdlib misclassifies")
	}
	if !under(module+"/domain/drop", "domain") || under(module+"/domainx", "domain") {
		t.Fatal("under misclassifies")
	}
}
