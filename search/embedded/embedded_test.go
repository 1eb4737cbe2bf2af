package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/search/embedded"
	"github.com/switchyard/switchyard/search/searchtest"
)

func TestConformance(t *testing.T) {
	base := t.TempDir()
	searchtest.Run(t, func(t *testing.T, name string) switchyard.SearchIndex {
		idx, err := embedded.Open(filepath.Join(base, name))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return idx
	})
}
