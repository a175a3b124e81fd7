module gitops.local/e2e/harness/fluxtar

go 1.26.0

// github.com/fluxcd/flux2/v2 v2.9.4 (the pinned Flux, engine/flux/upstream.ts) requires
// github.com/fluxcd/pkg/oci v0.68.1, whose Build archives with github.com/fluxcd/pkg/tar v1.2.0.
require github.com/fluxcd/pkg/tar v1.2.0

require github.com/cyphar/filepath-securejoin v0.6.1 // indirect
