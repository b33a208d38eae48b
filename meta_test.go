// Tests of the repository as a whole: every package documents what it
// owns, and imports follow the table in docs/ARCHITECTURE.md.
package picket_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "picket"

// packages returns the directories under cmd/ and internal/ that hold Go
// packages, relative to the repository root.
func packages(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, root := range []string{"cmd", "internal"} {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				dir := filepath.Dir(path)
				if !slices.Contains(dirs, dir) {
					dirs = append(dirs, dir)
				}
			}
			return nil
		})
	}
	return dirs
}

// TestPackageDocs checks that each package has exactly one doc comment,
// in the "Package name ..." form (or "Command name ..." for commands).
func TestPackageDocs(t *testing.T) {
	for _, dir := range packages(t) {
		pkgs := parseDir(t, dir, parser.ParseComments|parser.PackageClauseOnly)
		for name, p := range pkgs {
			var docs []string
			for fname, f := range p.Files {
				if f.Doc != nil {
					docs = append(docs, filepath.Base(fname))
					text := f.Doc.Text()
					want := "Package " + name + " "
					if name == "main" {
						want = "Command "
					}
					if !strings.HasPrefix(text, want) {
						t.Errorf("%s: package doc should start with %q, got %q", fname, want, firstLine(text))
					}
				}
			}
			switch len(docs) {
			case 0:
				t.Errorf("package %s (%s) has no doc comment saying what it owns", name, dir)
			case 1:
			default:
				slices.Sort(docs)
				t.Errorf("package %s (%s) has doc comments in %d files %v: keep exactly one", name, dir, len(docs), docs)
			}
		}
	}
}

// pkgFiles is one package's parsed files by name.
type pkgFiles struct{ Files map[string]*ast.File }

// parseDir parses the non-test Go files of a directory, grouped by
// package name.
func parseDir(t *testing.T, dir string, mode parser.Mode) map[string]*pkgFiles {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]*pkgFiles{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		p := out[f.Name.Name]
		if p == nil {
			p = &pkgFiles{Files: map[string]*ast.File{}}
			out[f.Name.Name] = p
		}
		p.Files[path] = f
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// allowed lists, for each package (or package prefix ending in "/"), the
// picket packages it may import. Detectors never import the store, the API,
// sources or a bus; only the composition root sees everything; nothing but
// the command imports the composition root.
var allowed = map[string][]string{
	"internal/event":             {"internal/jsonscan"},
	"internal/jsonscan":          {},
	"internal/lru":               {},
	"internal/sketch":            {},
	"internal/source":            {},
	"internal/config":            {"internal/decode/vpcflow", "internal/suggest"},
	"internal/suggest":           {},
	"internal/decode":            {"internal/decode/", "internal/event", "internal/flowmeter", "internal/jsonscan"},
	"internal/decode/":           {"internal/event", "internal/suggest"},
	"internal/intel":             {"internal/lru"},
	"internal/intel/":            {},
	"internal/intel/live":        {"internal/detect", "internal/intel", "internal/intel/fetch", "internal/store"},
	"internal/inventory":         {"internal/event"},
	"internal/inventory/awspoll": {"internal/inventory"},
	"internal/console":           {"internal/api"},
	"internal/explain":           {"internal/event", "internal/finding", "internal/inventory"},
	"internal/enrich":            {"internal/event", "internal/lru", "internal/intel", "internal/inventory", "internal/geo", "internal/awsip"},
	"internal/geo":               {},
	"internal/awsip":             {},
	"internal/finding":           {"internal/event"},
	"internal/detect":            {"internal/event", "internal/finding"},
	"internal/detect/":           {"internal/event", "internal/finding", "internal/detect", "internal/lru", "internal/sketch", "internal/detect/contact", "internal/detect/trw", "internal/detect/scanner", "internal/detect/trail"},
	"internal/detect/all":        {"internal/detect", "internal/detect/"},
	"internal/detect/dnsexfil":   {"internal/detect", "internal/event", "internal/finding", "internal/lru"},
	"internal/store":             {"internal/finding"},
	"internal/store/":            {"internal/finding", "internal/store", "internal/store/"},
	"internal/api":               {"internal/finding", "internal/store"},
	"internal/datadir":           {"internal/config"},
	"internal/ui":                {},
	"internal/export":            {"internal/finding"},
	"internal/synth":             {"internal/event", "internal/decode/vpcflow"},
	"internal/app":               {"internal/"},
	"internal/metrics":           {"internal/detect"},
	"internal/publish":           {"internal/finding", "internal/store"},
	"internal/ingest": {"internal/decode", "internal/decode/", "internal/detect", "internal/enrich", "internal/event",
		"internal/finding", "internal/flowmeter", "internal/metrics", "internal/source", "internal/store"},
	"internal/pgtest":  {},
	"internal/cluster": {"internal/detect", "internal/event", "internal/finding", "internal/ingest", "internal/store"},
	"cmd/picket":       {"internal/"},

	// The stores: the SQL core, its two databases and the suite they pass.
	"internal/store/sqlstore":  {"internal/finding", "internal/store"},
	"internal/store/storetest": {"internal/finding", "internal/store"},
	"internal/store/sqlite":    {"internal/finding", "internal/store", "internal/store/sqlstore"},
	"internal/store/postgres":  {"internal/finding", "internal/store", "internal/store/sqlstore"},

	// Packets and Zeek connections into flow records: the VPC model, the
	// meter that records traffic as flow logs would, and its two decoders.
	"internal/topology":    {},
	"internal/flowmeter":   {"internal/event", "internal/lru", "internal/topology"},
	"internal/decode/pcap": {"internal/event", "internal/flowmeter", "internal/topology"},
	"internal/decode/zeek": {"internal/event", "internal/flowmeter", "internal/topology"},

	// The CloudTrail decoder reads JSON with the scanners event uses too.
	"internal/decode/cloudtrail": {"internal/event", "internal/jsonscan"},
	"internal/decode/resolver":   {"internal/event", "internal/jsonscan"},
}

// rule returns the allowed imports of a package: its own entry, else the
// entry of its parent prefix.
func rule(pkg string) ([]string, bool) {
	if r, ok := allowed[pkg]; ok {
		return r, true
	}
	for p := pkg; strings.Contains(p, "/"); {
		p = p[:strings.LastIndex(p, "/")]
		if r, ok := allowed[p+"/"]; ok {
			return r, true
		}
	}
	return nil, false
}

func permits(list []string, imp string) bool {
	for _, a := range list {
		if a == imp || strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a) {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	for _, dir := range packages(t) {
		pkg := filepath.ToSlash(dir)
		list, ok := rule(pkg)
		if !ok {
			t.Errorf("%s: no import rule; add the package to the table in meta_test.go and docs/ARCHITECTURE.md", pkg)
			continue
		}
		pkgs := parseDir(t, dir, parser.ImportsOnly)
		for _, p := range pkgs {
			for fname, f := range p.Files {
				for _, is := range f.Imports {
					path, _ := strconv.Unquote(is.Path.Value)
					if !strings.HasPrefix(path, module+"/") {
						continue
					}
					imp := strings.TrimPrefix(path, module+"/")
					if imp == "internal/app" && pkg != "cmd/picket" {
						t.Errorf("%s imports internal/app: only cmd/picket may", fname)
						continue
					}
					if !permits(list, imp) {
						t.Errorf("%s imports %s, which %s may not (allowed: %v)", fname, imp, pkg, list)
					}
				}
			}
		}
	}
}
