//go:build tools

// Package tools pins the binaries the e2e suite builds; it is never compiled.
package tools

import (
	_ "github.com/fluxcd/image-automation-controller"
	_ "github.com/fluxcd/image-reflector-controller"
	_ "github.com/fluxcd/notification-controller"
)
