// Command docgen writes the reference tables of the docs from the Go
// definitions they describe, so that the two cannot drift: the environment
// variables (pkg/settings, pkg/awsconfig), the fields of a decision line
// (approver.Outcome), its results (approver.Result*) and the metrics
// (pkg/metrics). Each entry is the doc comment of its constant or field.
//
// A table goes between two markers in any Markdown file of the repository:
//
//	<!-- BEGIN GENERATED: metrics -->
//	<!-- END GENERATED: metrics -->
//
// `make docs` runs it to write the tables; `make test` runs it with -check,
// which changes nothing and fails, naming the files, when a table differs
// from what it would write, or when a constant or field has no comment.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	check := flag.Bool("check", false, "change nothing; fail when a generated table differs from the code")
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

// table is one generated block: its name in the markers and how to build
// it from the repository at root.
type table struct {
	name  string
	build func(root string) (string, error)
}

var tables = []table{
	{"environment", environment},
	{"decision-fields", decisionFields},
	{"results", results},
	{"metrics", metricsTable},
}

func run(root string, check bool) error {
	built := map[string]string{}
	for _, t := range tables {
		body, err := t.build(root)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		built[t.name] = body
	}
	docs, err := markdownFiles(root)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	var stale []string
	for _, path := range docs {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		updated, names, err := fill(root, old, built)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, n := range names {
			used[n] = true
		}
		if bytes.Equal(old, updated) {
			continue
		}
		rel, _ := filepath.Rel(root, path)
		stale = append(stale, rel)
		if !check {
			if err := os.WriteFile(path, updated, 0o644); err != nil {
				return err
			}
			fmt.Println("docgen: wrote", rel)
		}
	}
	for _, t := range tables {
		if !used[t.name] {
			return fmt.Errorf("no Markdown file has the markers of the %q table", t.name)
		}
	}
	if check && len(stale) > 0 {
		return fmt.Errorf("generated tables differ from the code in %s: run `make docs` and commit the result", strings.Join(stale, ", "))
	}
	return nil
}

// markdownFiles are the .md files of the repository outside bin/, dist/ and
// hidden directories.
func markdownFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

var marker = regexp.MustCompile(`(?m)^<!-- (BEGIN|END) GENERATED: ([a-z-]+(?: [^ ]+)?) -->$`)

// examplePrefix starts the name of a block that shows a file of examples/:
// "example examples/revoke.json". The file is shown whole, in a fence, so
// that the policy a reader copies is the one make test validates.
const examplePrefix = "example "

// fill replaces the content between each pair of markers in doc with the
// table of that name, and returns the names it filled.
func fill(root string, doc []byte, built map[string]string) ([]byte, []string, error) {
	var out bytes.Buffer
	var names []string
	last := 0
	matches := marker.FindAllSubmatchIndex(doc, -1)
	for i := 0; i < len(matches); i += 2 {
		begin := matches[i]
		if string(doc[begin[2]:begin[3]]) != "BEGIN" {
			return nil, nil, fmt.Errorf("an END GENERATED marker without its BEGIN at byte %d", begin[0])
		}
		name := string(doc[begin[4]:begin[5]])
		if i+1 == len(matches) {
			return nil, nil, fmt.Errorf("BEGIN GENERATED: %s has no END", name)
		}
		end := matches[i+1]
		if string(doc[end[2]:end[3]]) != "END" || string(doc[end[4]:end[5]]) != name {
			return nil, nil, fmt.Errorf("BEGIN GENERATED: %s is followed by %s", name, doc[end[0]:end[1]])
		}
		body, ok := built[name]
		if file, isExample := strings.CutPrefix(name, examplePrefix); isExample {
			var err error
			if body, err = example(root, file); err != nil {
				return nil, nil, err
			}
			ok = true
		}
		if !ok {
			return nil, nil, fmt.Errorf("unknown generated table %q", name)
		}
		names = append(names, name)
		out.Write(doc[last:begin[1]])
		out.WriteString("\n")
		out.WriteString(body)
		last = end[0]
	}
	out.Write(doc[last:])
	return out.Bytes(), names, nil
}

// entry is one documented constant or field.
type entry struct {
	goName string
	value  string // the constant's value, or the field's JSON name
	typ    string // the field's type
	doc    string // the comment, one line
}

// parse reads one Go file of the repository.
func parse(root, rel string) (*ast.File, error) {
	return parser.ParseFile(token.NewFileSet(), filepath.Join(root, rel), nil, parser.ParseComments)
}

// constants are the string constants of file whose names keep says yes
// to, in order, each with its comment; a constant without one is an error.
func constants(root, rel string, keep func(name string) bool) ([]entry, error) {
	f, err := parse(root, rel)
	if err != nil {
		return nil, err
	}
	var out []entry
	var undocumented []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !keep(name.Name) || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				value, _ := strconv.Unquote(lit.Value)
				doc := commentOf(vs.Doc, vs.Comment)
				if doc == "" {
					undocumented = append(undocumented, name.Name)
				}
				out = append(out, entry{goName: name.Name, value: value, doc: doc})
			}
		}
	}
	if len(undocumented) > 0 {
		return nil, fmt.Errorf("%s: constants without a comment: %s", rel, strings.Join(undocumented, ", "))
	}
	return out, nil
}

// fields are the exported, JSON-tagged fields of struct typeName in file.
func fields(root, rel, typeName string) ([]entry, error) {
	f, err := parse(root, rel)
	if err != nil {
		return nil, err
	}
	var st *ast.StructType
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == typeName {
			st, _ = ts.Type.(*ast.StructType)
		}
		return st == nil
	})
	if st == nil {
		return nil, fmt.Errorf("%s: no struct %s", rel, typeName)
	}
	var out []entry
	var undocumented []string
	for _, field := range st.Fields.List {
		if len(field.Names) != 1 || !field.Names[0].IsExported() || field.Tag == nil {
			continue
		}
		tag, _ := strconv.Unquote(field.Tag.Value)
		name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		doc := commentOf(field.Doc, field.Comment)
		if doc == "" {
			undocumented = append(undocumented, field.Names[0].Name)
		}
		out = append(out, entry{goName: field.Names[0].Name, value: name, typ: typeText(field.Type), doc: doc})
	}
	if len(undocumented) > 0 {
		return nil, fmt.Errorf("%s: %s fields without a comment: %s", rel, typeName, strings.Join(undocumented, ", "))
	}
	return out, nil
}

func commentOf(groups ...*ast.CommentGroup) string {
	for _, g := range groups {
		if g != nil && strings.TrimSpace(g.Text()) != "" {
			return strings.Join(strings.Fields(g.Text()), " ")
		}
	}
	return ""
}

// typeText is the JSON type of a field's Go type.
func typeText(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		switch t.Name {
		case "bool":
			return "boolean"
		case "int", "int64":
			return "number"
		}
		return "string"
	case *ast.SelectorExpr:
		if t.Sel.Name == "Time" {
			return "time (RFC 3339)"
		}
		return "string"
	}
	return "JSON"
}

// qualified splits "GoName (qualifier): text" or "GoName: text" or "GoName
// verb text" into the qualifier and the text, capitalised.
func qualified(goName, doc string) (qualifier, text string) {
	rest := strings.TrimPrefix(doc, goName)
	if rest == doc {
		return "", capitalise(doc)
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") {
		if q, after, ok := strings.Cut(rest[1:], ")"); ok {
			qualifier, rest = q, strings.TrimSpace(after)
		}
	}
	rest = strings.TrimSpace(strings.TrimPrefix(rest, ":"))
	for _, verb := range []string{"is ", "are "} {
		rest = strings.TrimPrefix(rest, verb)
	}
	return qualifier, capitalise(rest)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func environment(root string) (string, error) {
	vars, err := constants(root, "pkg/settings/settings.go", func(n string) bool { return strings.HasPrefix(n, "Env") })
	if err != nil {
		return "", err
	}
	endpoints, err := constants(root, "pkg/awsconfig/awsconfig.go", func(n string) bool {
		return n == "EnvUseFIPSEndpoint" || n == "EnvUseDualStackEndpoint"
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n|---|---|---|\n")
	for _, e := range append(vars, endpoints...) {
		q, text := qualified(e.goName, e.doc)
		def := strings.TrimPrefix(q, "default ")
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", e.value, cell(def), cell(text))
	}
	return b.String(), nil
}

func decisionFields(root string) (string, error) {
	fs, err := fields(root, "pkg/approver/report.go", "Outcome")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| Field | Type | Meaning |\n|---|---|---|\n")
	for _, e := range fs {
		_, text := qualified(e.goName, e.doc)
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", e.value, e.typ, cell(text))
	}
	return b.String(), nil
}

func results(root string) (string, error) {
	rs, err := constants(root, "pkg/approver/report.go", func(n string) bool { return strings.HasPrefix(n, "Result") })
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| Result | Meaning |\n|---|---|\n")
	for _, e := range rs {
		_, text := qualified(e.goName, e.doc)
		fmt.Fprintf(&b, "| `%s` | %s |\n", e.value, cell(text))
	}
	return b.String(), nil
}

// notMetrics are the constants of pkg/metrics that name no metric.
var notMetrics = []string{"Namespace", "DimensionServiceID"}

func metricsTable(root string) (string, error) {
	ms, err := constants(root, "pkg/metrics/metrics.go", func(n string) bool {
		return ast.IsExported(n) && !slices.Contains(notMetrics, n)
	})
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "", errors.New("pkg/metrics/metrics.go: no metric constants")
	}
	var b strings.Builder
	b.WriteString("| Metric | Dimensions | Unit | Meaning |\n|---|---|---|---|\n")
	for _, e := range ms {
		q, text := qualified(e.goName, e.doc)
		dims, unit := "none", "Count"
		for _, part := range strings.Split(q, ",") {
			switch strings.TrimSpace(part) {
			case "per service":
				dims = "none, and `ServiceId`"
			case "seconds":
				unit = "Seconds"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", e.value, dims, unit, cell(text))
	}
	return b.String(), nil
}

// example is the fenced block that shows file, a path below examples/.
func example(root, file string) (string, error) {
	if !strings.HasPrefix(file, "examples/") || strings.Contains(file, "..") {
		return "", fmt.Errorf("an example block must name a file under examples/, not %q", file)
	}
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return "", err
	}
	lang := ""
	if strings.HasSuffix(file, ".json") {
		lang = "json"
	}
	text := string(b)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return "```" + lang + "\n" + text + "```\n", nil
}
