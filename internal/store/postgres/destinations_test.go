package postgres

import (
	"testing"

	"picket/internal/store/storetest"
)

var _ storetest.DestinationStore = (*Store)(nil)

func TestDestinations(t *testing.T) {
	storetest.RunDestinations(t, openTemp(t))
}
