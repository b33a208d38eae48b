package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
)

// ErrWrongSecret is what CheckSecret returns for a known key given the
// wrong secret.
var ErrWrongSecret = errors.New("wrong secret access key")

// Principal is a caller that another part of picket authenticated (the
// console, by a session that began with the key's secret), on whose
// behalf ServeAs answers requests.
type Principal struct {
	AccessKeyID string
	Region      string
}

// principalKey carries a Principal in a request's context; only ServeAs
// sets it, so a request from the network can never carry one.
type principalKey struct{}

// CheckSecret verifies an access key's secret, as a sign-in does: it
// returns the key's credential, ErrUnknownAccessKey for a key the API does
// not know, or ErrWrongSecret. The comparison takes the same time however
// much of the secret is right.
func (h *Handler) CheckSecret(ctx context.Context, accessKeyID, secret string) (Credential, error) {
	if h.insecure {
		// The API checks nothing, so neither does a sign-in: any key
		// name does, acting in the configured account.
		if accessKeyID == "" {
			return Credential{}, ErrUnknownAccessKey
		}
		return Credential{AccessKeyID: accessKeyID, Account: h.account}, nil
	}
	if h.creds == nil {
		return Credential{}, ErrUnknownAccessKey
	}
	cred, err := h.creds(ctx, accessKeyID)
	if err != nil {
		return Credential{}, err
	}
	if cred.SessionToken != "" {
		// Temporary keys need their token with every request; the console
		// signs in with long-term keys only.
		return Credential{}, ErrWrongSecret
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(cred.Secret)) != 1 {
		return Credential{}, ErrWrongSecret
	}
	if cred.Account == "" {
		cred.Account = h.account
	}
	return cred, nil
}

// ServeAs answers r as ServeHTTP does, as the principal p instead of
// whoever signed r: the same routes, operations, limits, errors and
// account rules, with no signature check. The key is looked up again, so
// a key removed since the principal was authenticated is refused.
func (h *Handler) ServeAs(w http.ResponseWriter, r *http.Request, p Principal) {
	h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
}

// principalCaller returns the caller of a request that ServeAs answers,
// and whether it is one.
func (h *Handler) principalCaller(r *http.Request) (caller, bool, error) {
	p, ok := r.Context().Value(principalKey{}).(Principal)
	if !ok {
		return caller{}, false, nil
	}
	region := p.Region
	if !validRegion(region) {
		region = h.region
	}
	if h.insecure {
		return caller{AccessKeyID: p.AccessKeyID, Account: h.account, Region: region}, true, nil
	}
	if h.creds == nil {
		return caller{}, true, authError(codeUnrecognized, msgUnknownKey)
	}
	cred, err := h.creds(r.Context(), p.AccessKeyID)
	if errors.Is(err, ErrUnknownAccessKey) {
		return caller{}, true, authError(codeUnrecognized, msgUnknownKey)
	}
	if err != nil {
		return caller{}, true, err
	}
	account := cred.Account
	if account == "" {
		account = h.account
	}
	return caller{AccessKeyID: p.AccessKeyID, Account: account, Region: region}, true, nil
}
