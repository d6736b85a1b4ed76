package config

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docPath is the administrator's configuration reference, which must name
// every key of the schema, and no other, in the schema's order.
const docPath = "../docs/configuration.md"

// schemaKeys lists the configuration's keys as "table.key", tables in the
// order of Config's fields and keys in the order of each table's fields, by
// their toml tags. A table is a struct field of Config, a slice of structs
// ([[users]]), or such a field of a table ([auth.ldap], [[auth.ldap.groups]]).
func schemaKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for _, k := range tomlKeys(reflect.TypeOf(Default()), nil) {
		if len(k) < 2 {
			t.Fatalf("config field %s is not a table", k[0])
		}
		keys = append(keys, strings.Join(k, "."))
	}
	return keys
}

var (
	docTable = regexp.MustCompile("^## `\\[\\[?([a-z0-9_.]+)\\]\\]?`")
	docRow   = regexp.MustCompile("^\\| (`[a-z_0-9]+`(?:, `[a-z_0-9]+`)*) \\|")
)

// docKeys lists the keys docs/configuration.md documents, in its order: a
// heading "## `[table]`" opens a table, and the first cell of each row
// after it names one key or several ("`cert_file`, `key_file`").
func docKeys(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatalf("open the configuration reference: %v", err)
	}
	defer f.Close()
	var keys []string
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := docTable.FindStringSubmatch(line); m != nil {
			table = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			table = ""
			continue
		}
		m := docRow.FindStringSubmatch(line)
		if m == nil || table == "" {
			continue
		}
		for _, k := range strings.Split(m[1], ", ") {
			keys = append(keys, table+"."+strings.Trim(k, "`"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", docPath, err)
	}
	return keys
}

// TestConfigurationDocMatchesSchema fails when a key of the configuration
// is missing from docs/configuration.md, when the page documents a key
// that does not exist (or twice), or when its order departs from the
// structs' (tables in Config's field order, keys in each struct's).
func TestConfigurationDocMatchesSchema(t *testing.T) {
	schema := schemaKeys(t)
	doc := docKeys(t)
	inDoc := map[string]int{}
	for _, k := range doc {
		inDoc[k]++
	}
	for _, k := range schema {
		if inDoc[k] == 0 {
			t.Errorf("key %s is in config.Default() but not in %s", k, docPath)
		}
	}
	for k, n := range inDoc {
		if !slices.Contains(schema, k) {
			t.Errorf("%s documents key %s, which the configuration does not have", docPath, k)
		}
		if n > 1 {
			t.Errorf("%s documents key %s %d times", docPath, k, n)
		}
	}
	if t.Failed() {
		return
	}
	for i := range schema {
		if doc[i] != schema[i] {
			t.Errorf("%s lists %s where the config structs have %s: keep the structs' order", docPath, doc[i], schema[i])
			return
		}
	}
}
