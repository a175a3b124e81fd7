//go:build tools

// Package tools pins the binaries the e2e suite builds; it is never compiled.
package tools

import (
	_ "github.com/sigstore/cosign/v3/cmd/cosign"
)
