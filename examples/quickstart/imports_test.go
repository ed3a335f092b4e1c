package main

import (
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMainIsSelfContained keeps main.go copyable into another module and
// buildable without cgo: it imports the standard library, package bus and
// its codecs, and the memory driver, nothing of this repository's
// internals and no other driver.
func TestMainIsSelfContained(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	require.NoError(t, err)
	allowed := map[string]bool{
		"github.com/eventbus-go/eventbus/bus":       true,
		"github.com/eventbus-go/eventbus/bus/codec": true,
		"github.com/eventbus-go/eventbus/memory":    true,
	}
	for _, spec := range f.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		require.NoError(t, err)
		if !strings.Contains(path, ".") {
			continue // the standard library
		}
		assert.True(t, allowed[path], "main.go imports %s", path)
	}
}
