// The policy bench peer: selects a tag the way Flux does, timing only the selection.
// Usage: policy-peer -policy '{"semver":{"range":"^1"}}' [-filter '{"pattern":"..","extract":".."}'] -tags FILE [-repeat N]
// Prints "tag=<selected> seconds=<best selection time>".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"gitops-platform/bench/peers/policy/fluxpolicy"
)

func main() {
	pol := flag.String("policy", "", "policy JSON")
	fil := flag.String("filter", "", "filterTags JSON")
	tagsFile := flag.String("tags", "", "file with one tag per line")
	repeat := flag.Int("repeat", 3, "repetitions (best is reported)")
	flag.Parse()
	var p fluxpolicy.Policy
	if err := json.Unmarshal([]byte(*pol), &p); err != nil {
		fail(err)
	}
	var f *fluxpolicy.Filter
	if *fil != "" {
		f = &fluxpolicy.Filter{}
		if err := json.Unmarshal([]byte(*fil), f); err != nil {
			fail(err)
		}
	}
	data, err := os.ReadFile(*tagsFile)
	if err != nil {
		fail(err)
	}
	tags := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	best := time.Duration(1 << 62)
	var tag string
	for i := 0; i < *repeat; i++ {
		t0 := time.Now()
		s, err := fluxpolicy.New(p, f)
		if err != nil {
			fail(err)
		}
		tag, err = s.Select(tags)
		if err != nil {
			fail(err)
		}
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	fmt.Printf("tag=%s seconds=%.6f\n", tag, best.Seconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
