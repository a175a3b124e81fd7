// Package fluxpolicy reproduces, with the real libraries, what Flux's image-reflector-controller
// does to select a tag (its internal/policy package cannot be imported): Masterminds semver
// constraints, fluxcd/pkg/version.ParseVersion, strconv.ParseFloat, sort and the regexp filter.
package fluxpolicy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/version"
)

type Policy struct {
	Semver       *struct{ Range string `json:"range"` }  `json:"semver,omitempty"`
	Numerical    *struct{ Order string `json:"order"` }  `json:"numerical,omitempty"`
	Alphabetical *struct{ Order string `json:"order"` }  `json:"alphabetical,omitempty"`
}

type Filter struct {
	Pattern string `json:"pattern"`
	Extract string `json:"extract"`
}

// Selector is a compiled policy plus optional filter.
type Selector struct {
	latest func([]string) (string, error)
	re     *regexp.Regexp
	repl   string
}

func New(p Policy, f *Filter) (*Selector, error) {
	s := &Selector{}
	switch {
	case p.Semver != nil:
		c, err := semver.NewConstraint(p.Semver.Range)
		if err != nil {
			return nil, err
		}
		s.latest = func(vs []string) (string, error) {
			if len(vs) == 0 {
				return "", errors.New("version list argument cannot be empty")
			}
			var latest *semver.Version
			for _, t := range vs {
				if v, err := version.ParseVersion(t); err == nil {
					if c.Check(v) && (latest == nil || v.GreaterThan(latest)) {
						latest = v
					}
				}
			}
			if latest == nil {
				return "", errors.New("unable to determine latest version from provided list")
			}
			return latest.Original(), nil
		}
	case p.Alphabetical != nil:
		order := strings.ToUpper(p.Alphabetical.Order)
		if order != "" && order != "ASC" && order != "DESC" {
			return nil, fmt.Errorf("invalid order %q", order)
		}
		s.latest = func(vs []string) (string, error) {
			if len(vs) == 0 {
				return "", errors.New("version list argument cannot be empty")
			}
			sorted := append([]string(nil), vs...)
			if order == "DESC" {
				sort.Strings(sorted)
			} else {
				sort.Sort(sort.Reverse(sort.StringSlice(sorted)))
			}
			return sorted[0], nil
		}
	case p.Numerical != nil:
		order := strings.ToUpper(p.Numerical.Order)
		if order == "" {
			order = "ASC"
		}
		if order != "ASC" && order != "DESC" {
			return nil, fmt.Errorf("invalid order %q", order)
		}
		s.latest = func(vs []string) (string, error) {
			if len(vs) == 0 {
				return "", errors.New("version list argument cannot be empty")
			}
			var latest string
			var pv float64
			for i, t := range vs {
				cv, err := strconv.ParseFloat(t, 64)
				if err != nil {
					return "", fmt.Errorf("failed to parse invalid numeric value '%s'", t)
				}
				switch {
				case i == 0:
				case order == "ASC" && cv < pv, order == "DESC" && cv > pv:
					continue
				}
				latest, pv = t, cv
			}
			return latest, nil
		}
	default:
		return nil, errors.New("given ImagePolicyChoice object is invalid")
	}
	if f != nil {
		re, err := regexp.Compile(f.Pattern)
		if err != nil {
			return nil, err
		}
		s.re, s.repl = re, f.Extract
	}
	return s, nil
}

// Select runs the filter (keeping first-seen order of extracted values, where Flux iterates a
// map) and the policy, and returns the original tag.
func (s *Selector) Select(tags []string) (string, error) {
	if s.re == nil {
		return s.latest(tags)
	}
	orig := map[string]string{}
	var keys []string
	for _, t := range tags {
		if m := s.re.FindStringSubmatchIndex(t); len(m) > 0 {
			k := t
			if s.repl != "" {
				k = string(s.re.ExpandString(nil, s.repl, t, m))
			}
			if _, ok := orig[k]; !ok {
				keys = append(keys, k)
			}
			orig[k] = t
		}
	}
	l, err := s.latest(keys)
	if err != nil {
		return "", err
	}
	return orig[l], nil
}
