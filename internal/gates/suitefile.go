package gates

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gitchaos/gitchaos/harness/target"
	"github.com/gitchaos/gitchaos/harness/testbed"
)

// Suite is a suite file: which scenarios to run, with which parameters,
// seed and target settings, as data. Example:
//
//	seed: 7
//	settings: {git_timeout: 2s, max_workers: 8}
//	target_env: {OPAL_LOG_LEVEL: DEBUG}
//	transport: ssh   # or http (the default)
//	scenarios:
//	  - name: churn
//	    params: {cycles: 12, scopes: 16}
//	  - name: offline
//
// Every key is checked: an unknown scenario, parameter or setting is an
// error naming the file and line.
type SuiteFile struct {
	Seed     *int64          // nil: not set in the file
	Settings target.Settings // DefaultSettings with the file's overrides
	Only     []string        // scenarios in file order
	Params   map[string]any  // scenario name -> params struct
	// TargetEnv is extra KEY=VALUE environment for exec targets
	// (--target-env entries are added after these), in file order.
	TargetEnv []string
	// Transport is the git hosts' transport ("" when not set: http).
	Transport string
}

type suiteDoc struct {
	Seed      *int64    `yaml:"seed"`
	Settings  yaml.Node `yaml:"settings"`
	TargetEnv yaml.Node `yaml:"target_env"`
	Transport string    `yaml:"transport"`
	Scenarios []struct {
		Name   string    `yaml:"name"`
		Params yaml.Node `yaml:"params"`
	} `yaml:"scenarios"`
}

// LoadSuite reads a suite file.
func LoadSuite(path string) (*SuiteFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("suite file: %w", err)
	}
	return ParseSuite(path, b)
}

// ParseSuite parses suite file content; name prefixes error messages.
func ParseSuite(name string, b []byte) (*SuiteFile, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty suite file", name)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty suite file", name)
	}
	if err := checkKeys(name, root.Content[0], reflect.TypeOf(suiteDoc{}), ""); err != nil {
		return nil, err
	}
	var doc suiteDoc
	if err := root.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	st := &SuiteFile{Seed: doc.Seed, Settings: DefaultSettings(), Params: map[string]any{}}
	if doc.Settings.Kind != 0 {
		if err := checkKeys(name, &doc.Settings, reflect.TypeOf(target.Settings{}), "settings"); err != nil {
			return nil, err
		}
		if err := doc.Settings.Decode(&st.Settings); err != nil {
			return nil, fmt.Errorf("%s: line %d: settings: %w", name, doc.Settings.Line, err)
		}
		if err := st.Settings.Validate(); err != nil {
			return nil, fmt.Errorf("%s: line %d: settings: %w", name, doc.Settings.Line, err)
		}
	}
	if doc.TargetEnv.Kind != 0 {
		env, err := parseTargetEnv(name, &doc.TargetEnv)
		if err != nil {
			return nil, err
		}
		st.TargetEnv = env
	}
	if err := testbed.ValidateTransport(doc.Transport); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	st.Transport = doc.Transport
	if len(doc.Scenarios) == 0 {
		return nil, fmt.Errorf("%s: no scenarios listed (want a 'scenarios:' list of {name, params})", name)
	}
	seq := scenariosNode(root.Content[0])
	for i, e := range doc.Scenarios {
		line := 0
		if seq != nil && i < len(seq.Content) {
			line = seq.Content[i].Line
		}
		sc, err := Lookup(e.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		if _, dup := st.Params[e.Name]; dup {
			return nil, fmt.Errorf("%s: line %d: scenario %q listed twice", name, line, e.Name)
		}
		p := sc.Params()
		if e.Params.Kind != 0 {
			if err := checkKeys(name, &e.Params, reflect.TypeOf(p).Elem(), e.Name+".params"); err != nil {
				return nil, err
			}
			if err := e.Params.Decode(p); err != nil {
				return nil, fmt.Errorf("%s: line %d: %s params: %w", name, e.Params.Line, e.Name, err)
			}
		}
		st.Only = append(st.Only, e.Name)
		st.Params[e.Name] = p
	}
	return st, nil
}

// parseTargetEnv reads target_env: a mapping of environment variable
// names to scalar values.
func parseTargetEnv(file string, n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: target_env: want a mapping of NAME: value", file, n.Line)
	}
	var out []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: line %d: target_env.%s: want a scalar value", file, v.Line, k.Value)
		}
		kv := k.Value + "=" + v.Value
		if err := target.ParseEnv([]string{kv}); err != nil || strings.Contains(k.Value, "=") {
			return nil, fmt.Errorf("%s: line %d: target_env: bad variable name %q", file, k.Line, k.Value)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("%s: line %d: target_env: %s set twice", file, k.Line, k.Value)
		}
		seen[k.Value] = true
		out = append(out, kv)
	}
	return out, nil
}

func scenariosNode(m *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "scenarios" {
			return m.Content[i+1]
		}
	}
	return nil
}

// checkKeys walks a mapping node against a struct type and reports the
// first key the struct does not have, with its line and the known keys.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(yaml.Node{}):
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: line %d: %s: want a mapping of %s", file, n.Line, orDefault(path, "top level"), strings.Join(yamlKeys(t), ", "))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := yamlField(t, k.Value)
			if !ok {
				return fmt.Errorf("%s: line %d: unknown key %q in %s (known: %s)", file, k.Line, k.Value, orDefault(path, "top level"), strings.Join(yamlKeys(t), ", "))
			}
			sub := k.Value
			if path != "" {
				sub = path + "." + k.Value
			}
			if err := checkKeys(file, v, f.Type, sub); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if err := checkKeys(file, c, t.Elem(), path+"[]"); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && n.Kind == yaml.MappingNode && strings.HasSuffix(path, "budgets"):
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !isLeakMetric(n.Content[i].Value) {
				return fmt.Errorf("%s: line %d: unknown metric %q in %s (known: %s)", file, n.Content[i].Line, n.Content[i].Value, path, strings.Join(leakMetrics, ", "))
			}
		}
	}
	return nil
}

func isLeakMetric(m string) bool {
	for _, k := range leakMetrics {
		if k == m {
			return true
		}
	}
	return false
}

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && yamlName(f) == key && yamlName(f) != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && yamlName(f) != "-" {
			out = append(out, yamlName(f))
		}
	}
	return out
}
