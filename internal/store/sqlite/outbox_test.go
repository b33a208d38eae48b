package sqlite

import (
	"testing"

	"picket/internal/store/storetest"
)

func TestOutbox(t *testing.T) {
	storetest.RunOutbox(t, openTemp(t))
}
