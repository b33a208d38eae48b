package api

import (
	"picket/internal/store"
)

// pageOf reads a GET listing's maxResults (1 to 50, default 50) and
// nextToken from the query string; scope names the listing.
func (h *Handler) pageOf(rq *request, op, scope string, maxResults int) (store.Page, error) {
	n, err := queryInt(rq, "maxResults")
	if err != nil {
		return store.Page{}, err
	}
	var token *string
	if vs, ok := rq.query["nextToken"]; ok {
		token = &vs[0]
	}
	return h.page(op+"\x00"+scope, n, token, maxResults, maxResults)
}

// page validates a limit and opens a token sealed for scope.
func (h *Handler) page(scope string, n *int64, token *string, def, maxResults int) (store.Page, error) {
	p := store.Page{Limit: def}
	if err := intRange("maxResults", n, 1, int64(maxResults)); err != nil {
		return p, err
	}
	if n != nil {
		p.Limit = int(*n)
	}
	if token != nil {
		cursor, err := h.tokens.open(scope, *token)
		if err != nil {
			return p, badRequest(msgToken, err)
		}
		p.Cursor = cursor
	}
	return p, nil
}

// next seals the cursor of a GET listing's next page; "" after the last.
func (h *Handler) next(op, scope, cursor string) string {
	return h.tokens.seal(op+"\x00"+scope, cursor)
}
