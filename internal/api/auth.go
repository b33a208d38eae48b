package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Secret is a secret access key or session token. It redacts itself in
// logs and formatted output; convert it to string to use it.
type Secret string

// LogValue keeps the secret out of structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String keeps the secret out of fmt's %s and %v.
func (Secret) String() string { return "REDACTED" }

// GoString keeps the secret out of fmt's %#v.
func (Secret) GoString() string { return "api.Secret(REDACTED)" }

// MarshalText keeps the secret out of JSON and other encodings: code that
// must write a secret (a generated key file) writes string(s).
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// Credential is an access key picket accepts.
type Credential struct {
	AccessKeyID string
	Secret      Secret
	// SessionToken, when set, must come with every request signed with
	// the key (X-Amz-Security-Token). A request that carries a token the
	// credential does not have is refused.
	SessionToken Secret
	// Account is the 12-digit account the key acts as; "" means
	// Config.Account.
	Account string
}

// LogValue logs the key ID and account, never the secrets.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("account", c.Account))
}

// ErrUnknownAccessKey is what a CredentialFunc returns for a key it does
// not know.
var ErrUnknownAccessKey = errors.New("unknown access key")

// CredentialFunc looks up the credential of an access key ID: it returns
// ErrUnknownAccessKey for a key it does not know. Other errors answer 500.
type CredentialFunc func(ctx context.Context, accessKeyID string) (Credential, error)

// StaticCredentials returns a CredentialFunc that knows creds.
func StaticCredentials(creds ...Credential) CredentialFunc {
	byID := make(map[string]Credential, len(creds))
	for _, c := range creds {
		byID[c.AccessKeyID] = c
	}
	return func(_ context.Context, id string) (Credential, error) {
		c, ok := byID[id]
		if !ok {
			return Credential{}, ErrUnknownAccessKey
		}
		return c, nil
	}
}

// Signature Version 4 as GuardDuty checks it.
const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	sigService    = "guardduty"
	sigTerminator = "aws4_request"
	amzDateFormat = "20060102T150405Z"
	// MaxClockSkew is how far a request's X-Amz-Date may be from the
	// server's clock, either way, as AWS allows.
	MaxClockSkew = 15 * time.Minute
	// maxSignedHeaders bounds the work a forged Authorization header can
	// ask for; SDKs sign a handful.
	maxSignedHeaders = 64
)

// The messages AWS gives for signature problems (as botocore prints them).
const (
	msgMissingAuth   = "Missing Authentication Token"
	msgBadSignature  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnknownKey    = "The security token included in the request is invalid."
	msgUnsignedBody  = "The request payload must be signed: x-amz-content-sha256 does not match the payload or is not a SHA-256 digest."
	codeMissingAuth  = "MissingAuthenticationTokenException"
	codeIncomplete   = "IncompleteSignatureException"
	codeInvalidSig   = "InvalidSignatureException"
	codeUnrecognized = "UnrecognizedClientException"
)

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	terminator    string
	signedHeaders []string
	signature     string
}

// authenticate verifies the request's signature and returns the caller.
// Under InsecureNoAuth nothing is verified; the region still comes from
// the credential scope when the request is signed.
func (h *Handler) authenticate(r *http.Request, body []byte) (caller, error) {
	header := r.Header.Get("Authorization")
	if h.insecure {
		c := caller{Account: h.account, Region: h.region}
		if a, err := parseAuthorization(header); err == nil && validRegion(a.region) {
			c.Region = a.region
			c.AccessKeyID = a.accessKeyID
		}
		return c, nil
	}
	if header == "" {
		return caller{}, authError(codeMissingAuth, msgMissingAuth)
	}
	a, err := parseAuthorization(header)
	if err != nil {
		return caller{}, err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return caller{}, authError(codeIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="+redactSignature(header))
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return caller{}, authError(codeIncomplete, fmt.Sprintf("X-Amz-Date must be in the ISO8601 Long Format: '%s'", amzDate))
	}
	if err := checkScope(a, amzDate); err != nil {
		return caller{}, err
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return caller{}, authError(codeInvalidSig, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !slices.Contains(a.signedHeaders, "x-amz-date") {
		return caller{}, authError(codeInvalidSig, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}
	now := h.now().UTC()
	if t.Before(now.Add(-MaxClockSkew)) {
		return caller{}, authError(codeInvalidSig, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-MaxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if t.After(now.Add(MaxClockSkew)) {
		return caller{}, authError(codeInvalidSig, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(MaxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}

	cred, err := h.creds(r.Context(), a.accessKeyID)
	if errors.Is(err, ErrUnknownAccessKey) {
		return caller{}, authError(codeUnrecognized, msgUnknownKey)
	}
	if err != nil {
		return caller{}, fmt.Errorf("looking up access key %q: %w", a.accessKeyID, err)
	}
	if token := r.Header.Get("X-Amz-Security-Token"); token != "" || cred.SessionToken != "" {
		if subtle.ConstantTimeCompare([]byte(token), []byte(cred.SessionToken)) != 1 {
			return caller{}, authError(codeUnrecognized, msgUnknownKey)
		}
	}

	payloadHash := sha256.Sum256(body)
	payload := hex.EncodeToString(payloadHash[:])
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payload {
		return caller{}, authError(codeInvalidSig, msgUnsignedBody)
	}
	rawPath, rawQuery := requestTarget(r)
	creq := canonicalRequest(r, rawPath, rawQuery, a.signedHeaders, payload)
	want := signature(string(cred.Secret), a, amzDate, creq)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return caller{}, authError(codeInvalidSig, msgBadSignature)
	}
	account := cred.Account
	if account == "" {
		account = h.account
	}
	return caller{AccessKeyID: a.accessKeyID, Account: account, Region: a.region}, nil
}

// redactSignature drops the signature from an Authorization header that
// goes into an error message.
func redactSignature(header string) string {
	if i := strings.Index(header, "Signature="); i >= 0 {
		return header[:i] + "Signature=..."
	}
	return header
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX".
func parseAuthorization(header string) (authorization, error) {
	var a authorization
	alg, rest, _ := strings.Cut(header, " ")
	if alg != sigAlgorithm {
		return a, authError(codeIncomplete, fmt.Sprintf("Unsupported AWS 'algorithm': '%s'; picket accepts '%s'.", truncate(alg, 64), sigAlgorithm))
	}
	var cred, signed, sig string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	var missing []string
	if cred == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if sig == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if signed == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if len(missing) > 0 {
		return a, authError(codeIncomplete, strings.Join(missing, " ")+" Authorization="+truncate(redactSignature(header), 512))
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return a, authError(codeIncomplete, fmt.Sprintf("Credential should be scoped to a valid region, service and terminator: '%s'.", truncate(cred, 256)))
	}
	a.accessKeyID, a.date, a.region, a.service, a.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	a.signedHeaders = strings.Split(signed, ";")
	if len(a.signedHeaders) > maxSignedHeaders {
		return a, authError(codeIncomplete, fmt.Sprintf("Authorization header signs %d headers; picket accepts at most %d.", len(a.signedHeaders), maxSignedHeaders))
	}
	a.signature = sig
	return a, nil
}

// checkScope checks the credential scope against GuardDuty and the
// request's date.
func checkScope(a authorization, amzDate string) error {
	switch {
	case a.service != sigService:
		return authError(codeInvalidSig, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", sigService))
	case a.terminator != sigTerminator:
		return authError(codeInvalidSig, fmt.Sprintf("Credential should be scoped with a valid terminator: '%s', not '%s'. ", sigTerminator, truncate(a.terminator, 64)))
	case !validRegion(a.region):
		return authError(codeInvalidSig, "Credential should be scoped to a valid region. ")
	case a.date != amzDate[:8]:
		return authError(codeInvalidSig, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			truncate(a.date, 16), amzDate[:8], amzDate))
	}
	return nil
}

// canonicalRequest builds SigV4's canonical request. GuardDuty is not S3:
// the canonical URI is the path as sent, escaped once more.
func canonicalRequest(r *http.Request, rawPath, rawQuery string, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	if rawPath == "" {
		rawPath = "/"
	}
	escape(&b, rawPath, true)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(rawQuery))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		values = []string{r.Host}
	case "content-length":
		values = r.Header.Values("Content-Length")
		if len(values) == 0 && r.ContentLength >= 0 {
			values = []string{fmt.Sprint(r.ContentLength)}
		}
	default:
		values = r.Header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// canonicalQuery sorts the query's parameters by name, then value, each
// escaped with SigV4's rules.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		// A parameter that does not unescape keeps its raw form: the
		// signature will not match, which is the right answer.
		if u, err := url.PathUnescape(k); err == nil {
			k = u
		}
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		pairs = append(pairs, pair{k, v})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		escape(&b, p.k, false)
		b.WriteByte('=')
		escape(&b, p.v, false)
	}
	return b.String()
}

// escape writes s with every byte but SigV4's unreserved characters
// percent-encoded (and '/' kept when keepSlash).
func escape(b *strings.Builder, s string, keepSlash bool) {
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && keepSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperhex[c>>4])
		b.WriteByte(upperhex[c&15])
	}
}

// signature computes the hex signature of a canonical request.
func signature(secret string, a authorization, amzDate, creq string) string {
	h := sha256.Sum256([]byte(creq))
	scope := a.date + "/" + a.region + "/" + a.service + "/" + a.terminator
	toSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
	key := hmacSHA256([]byte("AWS4"+secret), a.date)
	key = hmacSHA256(key, a.region)
	key = hmacSHA256(key, a.service)
	key = hmacSHA256(key, a.terminator)
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
