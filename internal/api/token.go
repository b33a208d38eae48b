package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// Pagination tokens wrap the store's cursor so that a client can neither
// read nor forge one: base64url(version || HMAC-SHA256(key, scope ||
// cursor) || cursor). The scope binds a token to the operation, the
// detector and the query that produced it, so a token is only good for
// the next page of the same listing.
const (
	tokenVersion = 1
	// maxTokenLength bounds a token on input. A store's cursor is short,
	// but the administrator's listing of findings carries one for each
	// member's detector (about 170 characters each), so the bound allows
	// some thousand members; it stays far under the body limit.
	maxTokenLength = 256 << 10
)

var errToken = errors.New("pagination token is malformed, tampered with or from another listing")

type tokenSealer struct {
	key []byte
}

func (s tokenSealer) mac(scope, cursor string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte{tokenVersion})
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(cursor))
	return m.Sum(nil)
}

// seal returns the token for cursor in scope; "" for the end of a
// listing.
func (s tokenSealer) seal(scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	b := make([]byte, 0, 1+sha256.Size+len(cursor))
	b = append(b, tokenVersion)
	b = append(b, s.mac(scope, cursor)...)
	b = append(b, cursor...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open returns the cursor of a token sealed for scope; "" for no token.
func (s tokenSealer) open(scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	if len(token) > maxTokenLength {
		return "", errToken
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+sha256.Size+1 || b[0] != tokenVersion {
		return "", errToken
	}
	mac, cursor := b[1:1+sha256.Size], string(b[1+sha256.Size:])
	if !hmac.Equal(mac, s.mac(scope, cursor)) {
		return "", errToken
	}
	return cursor, nil
}
