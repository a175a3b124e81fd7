// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider built from
// github.com/pulumi/pulumi-kubernetes/provider/v4. Upstream's cmd main embeds files its
// `go generate` writes (schema-embed.json, terraform-mapping-embed.json), which the published
// module lacks; scripts/e2e-build.sh copies the module's schema.json and terraform-mapping.json
// beside this file before building, and sets pkg/version.Version by -ldflags. As upstream's
// generate.go does, the schema served carries that version.
package main

import (
	_ "embed"
	"encoding/json"
	"log"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(schema, &spec); err != nil {
		log.Fatalf("cannot deserialize schema: %v", err)
	}
	v, err := json.Marshal(version.Version)
	if err != nil {
		log.Fatal(err)
	}
	spec["version"] = v
	versioned, err := json.Marshal(spec)
	if err != nil {
		log.Fatalf("cannot reserialize schema: %v", err)
	}
	var mapping interface{}
	if err := json.Unmarshal(terraformMapping, &mapping); err != nil {
		log.Fatalf("cannot deserialize terraform mapping: %v", err)
	}
	compact, err := json.Marshal(mapping)
	if err != nil {
		log.Fatal(err)
	}
	provider.Serve("kubernetes", version.Version, versioned, compact)
}
