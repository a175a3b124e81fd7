//go:build tools

// Package tools pins the binaries the e2e suite builds; it is never compiled.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
