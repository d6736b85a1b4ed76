package refusal_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"ftpsd/config"
	"ftpsd/refusal"
)

// TestReasonsAreServerKeys: every reason but Banned names the [server]
// key whose limit refused the connection, so that an administrator finds
// the key from the label or the 421 reply; the reasons are distinct.
func TestReasonsAreServerKeys(t *testing.T) {
	var keys []string
	st := reflect.TypeFor[config.Server]()
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("toml"), ",")
		keys = append(keys, name)
	}
	seen := map[string]bool{}
	for _, r := range refusal.Reasons() {
		if seen[r] {
			t.Errorf("reason %q listed twice", r)
		}
		seen[r] = true
		if r != refusal.Banned && !slices.Contains(keys, r) {
			t.Errorf("reason %q is not a [server] key (%v)", r, keys)
		}
	}
}

// TestLoginReasonsAreUserKeys: every reason a login is refused for by
// the account's policy names the [[users]] key that refused it.
func TestLoginReasonsAreUserKeys(t *testing.T) {
	ut := reflect.TypeFor[config.User]()
	var keys []string
	for i := range ut.NumField() {
		name, _, _ := strings.Cut(ut.Field(i).Tag.Get("toml"), ",")
		keys = append(keys, name)
	}
	reasons := refusal.LoginReasons()
	if len(reasons) == 0 {
		t.Fatal("no login reasons")
	}
	for _, r := range reasons {
		if !slices.Contains(keys, r) {
			t.Errorf("login reason %q is not a [[users]] key (%v)", r, keys)
		}
	}
}
