package api

import (
	"picket/internal/store/postgres"
	"picket/internal/store/sqlite"
)

// The stores picket serves the API from satisfy the API's Store.
var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)
