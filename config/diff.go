package config

import (
	"encoding"
	"reflect"
	"strings"
)

// ChangedKeys lists the dotted keys whose values differ between a and b
// ("server.banner", "tls.cert_file", ...); the user list counts as the one
// key "users".
func ChangedKeys(a, b Config) []string {
	return diffStruct(reflect.ValueOf(a), reflect.ValueOf(b), "")
}

func diffStruct(a, b reflect.Value, prefix string) []string {
	var keys []string
	t := a.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		key := prefix + name
		fa, fb := a.Field(i), b.Field(i)
		// A value written as text (a duration, a port range) is one key.
		if fa.Kind() == reflect.Struct && !fa.Type().Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
			keys = append(keys, diffStruct(fa, fb, key+".")...)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			keys = append(keys, key)
		}
	}
	return keys
}
