package detecttest

import (
	"bufio"
	"fmt"
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

// wallClock lists the functions of package time that read the wall clock
// or wait on it.
var wallClock = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTicker", "NewTimer"}

// wallClockDirective, followed by a reason, on the line of a use of the
// wall clock or the line above, allows that use.
const wallClockDirective = "//picket:wallclock "

// NoWallClock checks that the package with import path pkg, and every
// package of the same module that it imports directly or not, never reads
// the wall clock or waits on it (time.Now, time.Since, time.Sleep,
// timers and tickers) in its non-test files, except where a
// "//picket:wallclock <reason>" comment on the line or the line above
// says why. It finds the module from the working directory. It returns
// the import paths it checked.
func NoWallClock(t *testing.T, pkg string) []string {
	t.Helper()
	root, module := moduleRoot(t)
	queue := []string{pkg}
	var checked []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if slices.Contains(checked, p) {
			continue
		}
		checked = append(checked, p)
		rel, ok := strings.CutPrefix(p, module+"/")
		if !ok {
			t.Fatalf("%s is not a package of module %s", p, module)
		}
		imports, uses, err := wallClockUses(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range uses {
			t.Errorf("%s reads the wall clock; detectors learn time from event times only (or say why with %q)", u, strings.TrimSpace(wallClockDirective)+" <reason>")
		}
		for _, imp := range imports {
			if strings.HasPrefix(imp, module+"/") {
				queue = append(queue, imp)
			}
		}
	}
	slices.Sort(checked)
	return checked
}

// wallClockUses parses the non-test files of one directory and returns
// their imports and the unjustified uses of the wall clock, as
// "file:line:column: time.Now".
func wallClockUses(dir string) (imports, uses []string, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no Go files in %s", dir)
	}
	if err != nil {
		return nil, nil, err
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, err
		}
		timeName := ""
		for _, is := range f.Imports {
			path, _ := strconv.Unquote(is.Path.Value)
			imports = append(imports, path)
			if path == "time" {
				timeName = "time"
				if is.Name != nil {
					timeName = is.Name.Name
				}
			}
		}
		if timeName == "" || timeName == "_" {
			continue
		}
		allowed := map[int]bool{}
		for _, g := range f.Comments {
			for _, c := range g.List {
				if reason, ok := strings.CutPrefix(c.Text, wallClockDirective); ok && strings.TrimSpace(reason) != "" {
					line := fset.Position(c.Slash).Line
					allowed[line], allowed[line+1] = true, true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok || x.Name != timeName || !slices.Contains(wallClock, sel.Sel.Name) {
				return true
			}
			if pos := fset.Position(sel.Pos()); !allowed[pos.Line] {
				uses = append(uses, pos.String()+": time."+sel.Sel.Name)
			}
			return true
		})
	}
	return imports, uses, nil
}

// moduleRoot finds go.mod above the working directory and returns its
// directory and module path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
