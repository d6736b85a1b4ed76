package hooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"time"

	"go.uber.org/zap"

	"ftpsd/config"
)

// action delivers one event to one hook: it returns nil when the event
// was delivered, an error wrapping errPermanent when the receiver refused
// it for good, and another error when it should be tried again. ctx
// carries the hook's timeout.
type action interface {
	deliver(ctx context.Context, m *message) error
}

// errPermanent marks a failure that trying again would not cure.
var errPermanent = errors.New("refused for good")

// hook is one [[hooks]] entry made ready: its filters and its action.
type hook struct {
	// id names the action across restarts and reloads: the spool records
	// which ids have had an event. It is derived from the action alone
	// (the program and its arguments, or the URL), so that a change of
	// filter, timeout or secret keeps it.
	id string
	// name is the action as logs show it: the program or the URL without
	// its password.
	name    string
	kinds   []string
	users   []string // empty: every account
	glob    string   // empty: every path
	timeout time.Duration
	act     action
	// failures counts the hook's failed tries since its last success, and
	// heldUntil holds its deliveries back after one failed, so that a hook
	// that is down gets at most events.max_running tries per wait, not one
	// per event waiting. Guarded by Dispatcher.mu.
	failures  int
	heldUntil time.Time
}

// wants reports whether the hook gets e.
func (h *hook) wants(e Event) bool {
	if !slices.Contains(h.kinds, e.Kind) {
		return false
	}
	if len(h.users) > 0 && !slices.Contains(h.users, e.User) {
		return false
	}
	if h.glob == "" {
		return true
	}
	for _, p := range []string{e.Path, e.TargetPath} {
		if ok, _ := path.Match(h.glob, p); ok && p != "" {
			return true
		}
	}
	return false
}

// actionEnv is what commands and POSTs share besides their entry.
type actionEnv struct {
	env    []string     // a command's environment besides FTPSD_*
	client *http.Client // the POSTs' client
	logger *zap.Logger
}

// buildHooks makes the [[hooks]] entries ready, reading the webhooks'
// secret files; an error names the key.
func buildHooks(entries []config.Hook, ae actionEnv) ([]*hook, error) {
	hooks := make([]*hook, 0, len(entries))
	var problems []error
	for i, c := range entries {
		h := &hook{kinds: c.Events, users: c.Users, glob: c.Path, timeout: c.EffectiveTimeout()}
		switch {
		case len(c.Command) > 0:
			h.id = actionID("command", c.Command...)
			h.name = c.Command[0]
			h.act = &command{argv: c.Command, env: ae.env, logger: ae.logger.With(zap.String("hook", h.id), zap.String("action", h.name))}
		case c.URL != "":
			secret, err := ReadSecret(c.SecretFile)
			if err != nil {
				problems = append(problems, fmt.Errorf("hooks[%d].secret_file: %w", i, err))
				continue
			}
			h.id = actionID("url", c.URL)
			h.name = redactURL(c.URL)
			h.act = &webhook{url: c.URL, secret: secret, client: ae.client}
		default:
			problems = append(problems, fmt.Errorf("hooks[%d]: set command or url", i))
			continue
		}
		hooks = append(hooks, h)
	}
	return hooks, errors.Join(problems...)
}

// Check makes the [[hooks]] entries ready as New would, reading the
// secret files, without opening the spool: "ftpsd check".
func Check(entries []config.Hook) error {
	_, err := buildHooks(entries, actionEnv{logger: zap.NewNop()})
	return err
}

// actionID derives a hook's id from its action.
func actionID(kind string, parts ...string) string {
	sum := sha256.New()
	sum.Write([]byte(kind))
	for _, p := range parts {
		sum.Write([]byte{0})
		sum.Write([]byte(p))
	}
	return hex.EncodeToString(sum.Sum(nil)[:8])
}

// maxSecret bounds a secret file: a key, not a document.
const maxSecret = 4096

// ReadSecret reads a key from file (a webhook's, [auth.http]'s token or
// secret); a trailing newline is not part of it.
func ReadSecret(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\r\n")
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%s is empty", file)
	case len(b) > maxSecret:
		return nil, fmt.Errorf("%s holds more than %d bytes", file, maxSecret)
	}
	return b, nil
}

// redactURL returns u without the password of its user part.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(bad URL)"
	}
	return p.Redacted()
}
