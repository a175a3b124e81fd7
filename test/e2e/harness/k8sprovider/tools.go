//go:build tools

// Package tools pins the binaries the e2e suite builds; it is never compiled.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/cmd/pulumi-resource-kubernetes"
)
