// The oracle: computes, with the real Go libraries, the expected results for the table-driven
// tests in test/engine/images-policy*.test.ts. It reads cases (JSON) on stdin and writes the same
// cases with a "want" field on stdout:
//   go run ./oracle < test/fixtures/images/cases.in.json > test/fixtures/images/cases.json
package main

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/version"

	"gitops-platform/bench/peers/policy/fluxpolicy"
)

type Case struct {
	Kind     string             `json:"kind"`
	Name     string             `json:"name,omitempty"`
	Policy   *fluxpolicy.Policy `json:"policy,omitempty"`
	Filter   *fluxpolicy.Filter `json:"filter,omitempty"`
	Tags     []string           `json:"tags,omitempty"`
	Pattern  *string            `json:"pattern,omitempty"`
	Extract  string             `json:"extract,omitempty"`
	Range    *string            `json:"range,omitempty"`
	Inputs   []string           `json:"inputs,omitempty"`
	Want     any                `json:"want"`
}

type result map[string]any

func main() {
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	for i := range cases {
		c := &cases[i]
		switch c.Kind {
		case "select":
			s, err := fluxpolicy.New(*c.Policy, c.Filter)
			if err == nil {
				var tag string
				tag, err = s.Select(c.Tags)
				if err == nil {
					c.Want = result{"tag": tag}
					break
				}
			}
			c.Want = result{"error": err.Error()}
		case "regexp":
			re, err := regexp.Compile(*c.Pattern)
			if err != nil {
				c.Want = result{"error": err.Error()}
				break
			}
			var out []any
			for _, in := range c.Inputs {
				m := re.FindStringSubmatchIndex(in)
				if m == nil {
					out = append(out, nil)
					continue
				}
				groups := []any{}
				for g := 0; g < len(m); g += 2 {
					if m[g] < 0 {
						groups = append(groups, nil)
					} else {
						groups = append(groups, in[m[g]:m[g+1]])
					}
				}
				r := result{"groups": groups}
				if c.Extract != "" {
					r["expanded"] = string(re.ExpandString(nil, c.Extract, in, m))
				}
				out = append(out, r)
			}
			c.Want = result{"names": re.SubexpNames(), "matches": out}
		case "float":
			var out []any
			for _, in := range c.Inputs {
				v, err := strconv.ParseFloat(in, 64)
				if err != nil {
					var ne *strconv.NumError
					if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
						out = append(out, result{"ok": false, "range": true})
					} else {
						out = append(out, result{"ok": false})
					}
					continue
				}
				out = append(out, result{"ok": true, "value": strconv.FormatFloat(v, 'g', -1, 64)})
			}
			c.Want = out
		case "check":
			con, err := semver.NewConstraint(*c.Range)
			if err != nil {
				c.Want = result{"error": err.Error()}
				break
			}
			var out []any
			for _, in := range c.Inputs {
				r := result{}
				if v, err := semver.NewVersion(in); err == nil {
					r["check"] = con.Check(v)
					r["version"] = v.String()
				} else {
					r["invalid"] = true
				}
				_, err := version.ParseVersion(in)
				r["fluxParses"] = err == nil
				out = append(out, r)
			}
			c.Want = result{"results": out}
		default:
			panic("unknown case kind " + c.Kind)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cases); err != nil {
		panic(err)
	}
}
