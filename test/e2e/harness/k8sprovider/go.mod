module gitops.local/e2e/harness/k8sprovider

go 1.13

// github.com/pulumi/pulumi-kubernetes/provider/v4 (and v2, v3) answer 403 on this machine's module
// proxy at every version tried; the only served provider is the pre-split root module v1.6.0. Its
// replaces, and those of the pulumi/pkg pseudo-version it requires, are copied here.
replace (
	github.com/Azure/go-autorest => github.com/Azure/go-autorest v13.3.1+incompatible
	gocloud.dev => github.com/pulumi/go-cloud v0.18.1-0.20191119155701-6a8381d0793f
	// vbom.ml is gone; its code lives on at github.com/fvbommel/util (same commit).
	vbom.ml/util => github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc
)

require github.com/pulumi/pulumi-kubernetes v1.6.0
