package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// notProduction are the directories whose code never runs in the server:
// the protocol engine (its lines are summed up in one paragraph) and test
// support.
var notProduction = map[string]bool{
	"third_party": true, "ftptest": true, "miniotest": true, "netlab": true,
	"testcert": true, "testenv": true, "bench": true,
}

// logMessages returns the message of every zap call with a literal
// message (logger.Debug/Info/Warn/Error("...")) in the server's code,
// with where it is.
func logMessages(t *testing.T) map[string]string {
	t.Helper()
	msgs := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if notProduction[d.Name()] || strings.HasPrefix(d.Name(), ".") && d.Name() != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "Debug", "Info", "Warn", "Error":
			default:
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			msg, err := strconv.Unquote(lit.Value)
			if err == nil {
				msgs[msg] = fset.Position(call.Pos()).String()
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("read the server's code: %v", err)
	}
	return msgs
}

// TestLogsDocNamesEveryMessage fails when the server's code logs a
// message that docs/logs.md does not list.
func TestLogsDocNamesEveryMessage(t *testing.T) {
	raw, err := os.ReadFile("logs.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	msgs := logMessages(t)
	if len(msgs) < 20 {
		t.Fatalf("found only %d log messages in the code: the scan is broken", len(msgs))
	}
	for msg, where := range msgs {
		if !strings.Contains(doc, "`"+msg+"`") {
			t.Errorf("%s logs %q, which docs/logs.md does not list", where, msg)
		}
	}
}
