// Command setters-peer applies image-policy setter markers under a directory the way Flux's
// image-automation-controller does (pkg/update): walk the tree, keep .yaml/.yml files that contain
// the quoted token "$imagepolicy", read them with kyaml's ByteReader, set every scalar whose
// field comment names a known setter, and write back (through kyaml's LocalPackageWriter) only the
// files in which a value changed. It is the bench peer and a differential oracle for our engine.
//
// Usage: setters-peer [-json] [-cpu] DIR NS:NAME=NAME:TAG[@DIGEST] ...
// With -json it prints one JSON object per change: {"file","setter","old","new"}.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/fieldmeta"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const token = `"$imagepolicy"`

type change struct {
	File   string `json:"file"`
	Setter string `json:"setter"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

func init() {
	fieldmeta.SetShortHandRef("$imagepolicy")
	openapi.SuppressBuiltInSchemaUse()
}

func setterDef(name, value string) spec.Schema {
	s := spec.StringProperty()
	s.Extensions = map[string]interface{}{}
	s.Extensions.Add("x-k8s-cli", map[string]interface{}{"setter": map[string]string{"name": name, "value": value}})
	return *s
}

// splitRef splits name:tag@digest into its parts.
func splitRef(ref string) (name, tag, digest string) {
	if at := strings.Index(ref, "@"); at >= 0 {
		digest = ref[at+1:]
		ref = ref[:at]
	}
	if c := strings.LastIndex(ref, ":"); c > strings.LastIndex(ref, "/") {
		return ref[:c], ref[c+1:], digest
	}
	return ref, "", digest
}

func main() {
	asJSON := flag.Bool("json", false, "print changes as JSON lines")
	cpu := flag.Bool("cpu", false, "print this process's CPU time (user+system seconds) on stderr at exit")
	flag.Parse()
	args := flag.Args()
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: setters-peer [-json] DIR NS:NAME=REF ...")
		os.Exit(2)
	}
	root, err := filepath.Abs(args[0])
	if err != nil {
		fail(err)
	}
	defs := map[string]spec.Schema{}
	for _, p := range args[1:] {
		eq := strings.Index(p, "=")
		if eq < 0 {
			fail(fmt.Errorf("bad policy %q", p))
		}
		setter, ref := p[:eq], p[eq+1:]
		name, tag, digest := splitRef(ref)
		defs[fieldmeta.SetterDefinitionPrefix+setter] = setterDef(setter, ref)
		defs[fieldmeta.SetterDefinitionPrefix+setter+":tag"] = setterDef(setter+":tag", tag)
		defs[fieldmeta.SetterDefinitionPrefix+setter+":name"] = setterDef(setter+":name", name)
		if digest != "" {
			defs[fieldmeta.SetterDefinitionPrefix+setter+":digest"] = setterDef(setter+":digest", digest)
		}
	}
	schema := &spec.Schema{}
	schema.Definitions = defs

	var nodes []*yaml.RNode
	err = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(token)) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		r := &kio.ByteReader{Reader: bytes.NewBuffer(b), SetAnnotations: map[string]string{kioutil.PathAnnotation: rel}, PreserveSeqIndent: true}
		ns, err := r.Read()
		if err != nil {
			fmt.Fprintf(os.Stderr, "problem file %s: %v\n", rel, err)
			return nil
		}
		nodes = append(nodes, ns...)
		return nil
	})
	if err != nil {
		fail(err)
	}

	var changes []change
	changed := map[string]bool{}
	for _, n := range nodes {
		path, _, _ := kioutil.GetFileAnnotations(n)
		visit(n, schema, func(setter, old, nw string) {
			if old != nw {
				changes = append(changes, change{path, setter, old, nw})
				changed[path] = true
			}
		})
	}
	var out []*yaml.RNode
	for _, n := range nodes {
		path, _, _ := kioutil.GetFileAnnotations(n)
		if changed[path] {
			out = append(out, n)
		}
	}
	if err := (kio.LocalPackageWriter{PackagePath: root}).Write(out); err != nil {
		fail(err)
	}
	if *cpu {
		defer printCPU()
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, c := range changes {
			_ = enc.Encode(c)
		}
	}
}

// visit walks documents, mapping values and sequence elements, and applies the setter named by a
// scalar's field comment (line comment first, then head comment, as kyaml's fieldmeta reads it).
func visit(n *yaml.RNode, schema *spec.Schema, cb func(setter, old, nw string)) {
	switch n.YNode().Kind {
	case yaml.DocumentNode:
		visit(yaml.NewRNode(n.YNode().Content[0]), schema, cb)
	case yaml.MappingNode:
		_ = n.VisitFields(func(f *yaml.MapNode) error { visit(f.Value, schema, cb); return nil })
	case yaml.SequenceNode:
		_ = n.VisitElements(func(e *yaml.RNode) error { visit(e, schema, cb); return nil })
	case yaml.ScalarNode:
		fm := fieldmeta.FieldMeta{SettersSchema: schema}
		if err := fm.Read(n); err != nil || fm.IsEmpty() || fm.Schema.Ref.String() == "" {
			return
		}
		s, err := openapi.Resolve(&fm.Schema.Ref, schema)
		if err != nil || s == nil {
			return
		}
		ext, ok := s.Extensions["x-k8s-cli"].(map[string]interface{})
		if !ok {
			return
		}
		st, ok := ext["setter"].(map[string]string)
		if !ok {
			return
		}
		old := n.YNode().Value
		n.YNode().Value = st["value"]
		cb(st["name"], old, st["value"])
		yaml.FormatNonStringStyle(n.YNode(), *s)
	}
}

// printCPU reports user+system CPU seconds of this process (all threads, GC included).
func printCPU() {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		sec := float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		fmt.Fprintf(os.Stderr, "cpu_seconds=%.4f\n", sec)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "setters-peer:", err)
	os.Exit(1)
}
