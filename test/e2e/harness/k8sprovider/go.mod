module gitops.local/e2e/harness/k8sprovider

go 1.24.7

require github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199 // indirect
