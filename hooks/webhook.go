package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook's POST. The signature is HMAC-SHA256 under the
// hook's secret of the timestamp, a dot and the body, in hex after
// "sha256=" (as Stripe signs the timestamp with the body, so that a
// receiver that refuses old timestamps is not open to replay).
const (
	HeaderSignature = "X-Ftpsd-Signature"
	HeaderTimestamp = "X-Ftpsd-Timestamp"
	HeaderEventID   = "X-Ftpsd-Event-Id"
)

// Sign returns the value of the X-Ftpsd-Signature header of a POST of
// body at timestamp (Unix seconds, as X-Ftpsd-Timestamp carries it).
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhook POSTs events to a URL.
type webhook struct {
	url    string
	secret []byte
	client *http.Client
}

// replyExcerpt bounds the part of a refusal's body kept for the log;
// drainLimit the part read to reuse the connection.
const (
	replyExcerpt = 256
	drainLimit   = 64 << 10
)

func (w *webhook) deliver(ctx context.Context, m *message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(m.body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ftpsd")
	req.Header.Set(HeaderEventID, m.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, m.body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, replyExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %s", errPermanent, resp.Status, oneLine(excerpt))
	default:
		err := fmt.Errorf("%s: %s", resp.Status, oneLine(excerpt))
		if after, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &laterError{err: err, after: after}
		}
		return err
	}
}

// laterError is a failed try whose receiver said when to try again.
type laterError struct {
	err   error
	after time.Duration
}

func (e *laterError) Error() string { return fmt.Sprintf("%v (Retry-After: %s)", e.err, e.after) }
func (e *laterError) Unwrap() error { return e.err }

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// oneLine makes a reply's excerpt fit a log field.
func oneLine(b []byte) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
}
