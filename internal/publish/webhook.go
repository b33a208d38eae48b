package publish

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
	"time"
)

// The headers of a webhook request.
const (
	// HeaderTimestamp carries the Unix time, in seconds, at which the
	// request was signed.
	HeaderTimestamp = "X-Picket-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256, under
	// the shared secret, of the timestamp, a period and the body.
	HeaderSignature = "X-Picket-Signature"
	// HeaderEventID carries the event's ID (EventID), the same when a
	// delivery is sent again.
	HeaderEventID = "X-Picket-Event-Id"
)

// Sign returns the signature header value of a webhook body signed at
// unix seconds with secret: "sha256=" and hex(HMAC-SHA256(secret,
// timestamp + "." + body)).
func Sign(secret []byte, unix int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(unix, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook request's timestamp and signature headers
// against its body: what a receiver does. It refuses a timestamp more
// than tolerance away from now, against replays.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s %q", HeaderTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s %d is %v away from now", HeaderTimestamp, unix, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(Sign(secret, unix, body)), []byte(signature)) {
		return fmt.Errorf("%s does not match the body", HeaderSignature)
	}
	return nil
}

// Webhook posts each event, encoded in its format, to a URL, signed with
// HMAC-SHA256 when it has a secret. Any 2xx answer is a delivery.
type Webhook struct {
	TargetName string
	URL        string
	Format     Format
	Secret     []byte // nil: unsigned
	Headers    map[string]string
	Client     *http.Client
	Now        func() time.Time // default time.Now
}

var _ Target = (*Webhook)(nil)

// Name returns the target's name.
func (w *Webhook) Name() string { return w.TargetName }

// Send posts the events one request at a time, in order.
func (w *Webhook) Send(ctx context.Context, events []Event) error {
	for _, e := range events {
		body, err := Encode(w.Format, e)
		if err != nil {
			return err
		}
		if err := w.post(ctx, EventID(e.Finding), body); err != nil {
			return err
		}
	}
	return nil
}

func (w *Webhook) post(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.TargetName, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "picket")
	req.Header.Set(HeaderEventID, id)
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	if w.Secret != nil {
		now := time.Now
		if w.Now != nil {
			now = w.Now
		}
		unix := now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
		req.Header.Set(HeaderSignature, Sign(w.Secret, unix, body))
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.TargetName, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: %s: %q", w.TargetName, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
