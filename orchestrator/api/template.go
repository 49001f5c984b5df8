package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The part of ARM's template expression language that `az vmss create`'s
// templates use: "[fn(args...)]" with string and integer literals,
// property access (.name) and indexing ([0]); the functions parameters,
// variables, concat, resourceId, resourceGroup, subscription, providers and
// reference. Any other function is refused by name (InvalidTemplate), so a
// template the emulator cannot read fails before anything is deployed.

// templateScope is what an expression can read.
type templateScope struct {
	sub, rg, location string
	params            map[string]any
	vars              map[string]any
	// reference reads a deployed resource's properties by id; nil while
	// the resources are being deployed (reference is for outputs).
	reference func(id string) (any, error)
}

// evalValue evaluates every expression inside v (strings "[...]"; "[[" is
// a literal "[").
func (sc *templateScope) evalValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "[[") {
			return x[1:], nil
		}
		if len(x) >= 2 && x[0] == '[' && x[len(x)-1] == ']' {
			return sc.eval(x[1 : len(x)-1])
		}
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := sc.evalValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := sc.evalValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	}
	return v, nil
}

// eval evaluates one expression (without its brackets).
func (sc *templateScope) eval(src string) (any, error) {
	p := &exprParser{src: src, sc: sc}
	v, err := p.expr()
	if err != nil {
		return nil, fmt.Errorf("expression [%s]: %w", src, err)
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("expression [%s]: unexpected %q at %d", src, p.src[p.pos:], p.pos)
	}
	return v, nil
}

type exprParser struct {
	src string
	pos int
	sc  *templateScope
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *exprParser) peek() byte {
	p.space()
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *exprParser) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("want %q at %d", c, p.pos)
	}
	p.pos++
	return nil
}

// expr is a literal or a call, followed by accessors.
func (p *exprParser) expr() (any, error) {
	var v any
	var err error
	switch c := p.peek(); {
	case c == '\'':
		v, err = p.str()
	case c >= '0' && c <= '9' || c == '-':
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		v, err = strconv.Atoi(p.src[start:p.pos])
	case isIdent(c):
		v, err = p.call()
	default:
		return nil, fmt.Errorf("unexpected %q at %d", c, p.pos)
	}
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case '.':
			p.pos++
			start := p.pos
			for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
				p.pos++
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("property %s of a %T", p.src[start:p.pos], v)
			}
			name := p.src[start:p.pos]
			found := false
			for k, e := range m {
				if strings.EqualFold(k, name) {
					v, found = e, true
				}
			}
			if !found {
				return nil, fmt.Errorf("no property %s", name)
			}
		case '[':
			p.pos++
			iv, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(']'); err != nil {
				return nil, err
			}
			a, ok := v.([]any)
			i, isInt := iv.(int)
			if !ok || !isInt || i < 0 || i >= len(a) {
				return nil, fmt.Errorf("index %v of %T", iv, v)
			}
			v = a[i]
		default:
			return v, nil
		}
	}
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func (p *exprParser) str() (string, error) {
	p.pos++ // '
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		if c != '\'' {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == '\'' {
			b.WriteByte('\'')
			p.pos++
			continue
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("unterminated string")
}

func (p *exprParser) call() (any, error) {
	start := p.pos
	for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var args []any
	if p.peek() != ')' {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.peek() == ',' {
				p.pos++
				continue
			}
			break
		}
	}
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	return p.sc.call(name, args)
}

func stringArgs(fn string, args []any, min int) ([]string, error) {
	if len(args) < min {
		return nil, fmt.Errorf("%s takes at least %d arguments, not %d", fn, min, len(args))
	}
	out := make([]string, len(args))
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("%s: argument %d is a %T, not a string", fn, i+1, a)
		}
		out[i] = s
	}
	return out, nil
}

// call is one template function.
func (sc *templateScope) call(name string, args []any) (any, error) {
	fn := strings.ToLower(name)
	switch fn {
	case "parameters", "variables":
		s, err := stringArgs(fn, args, 1)
		if err != nil {
			return nil, err
		}
		src := sc.params
		if fn == "variables" {
			src = sc.vars
		}
		for k, v := range src {
			if strings.EqualFold(k, s[0]) {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%s('%s') is not defined", fn, s[0])
	case "concat":
		var b strings.Builder
		for _, a := range args {
			switch x := a.(type) {
			case string:
				b.WriteString(x)
			case int:
				b.WriteString(strconv.Itoa(x))
			default:
				return nil, fmt.Errorf("concat of a %T", a)
			}
		}
		return b.String(), nil
	case "resourceid":
		s, err := stringArgs(fn, args, 2)
		if err != nil {
			return nil, err
		}
		return sc.resourceID(s)
	case "resourcegroup":
		return map[string]any{"id": fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", sc.sub, sc.rg), "name": sc.rg, "location": sc.location}, nil
	case "subscription":
		return map[string]any{"id": "/subscriptions/" + sc.sub, "subscriptionId": sc.sub, "tenantId": DefaultTenant}, nil
	case "providers":
		s, err := stringArgs(fn, args, 2)
		if err != nil {
			return nil, err
		}
		for _, t := range providerTypes[canonicalNamespace(s[0])] {
			if strings.EqualFold(t.typ, s[1]) {
				vs := []any{}
				for i := len(apiVersions[t.family]) - 1; i >= 0; i-- {
					vs = append(vs, apiVersions[t.family][i])
				}
				return map[string]any{"namespace": canonicalNamespace(s[0]), "resourceType": t.typ, "apiVersions": vs}, nil
			}
		}
		return nil, fmt.Errorf("providers('%s', '%s'): no such resource type here", s[0], s[1])
	case "reference":
		if sc.reference == nil {
			return nil, fmt.Errorf("reference() is only supported in outputs by this emulator")
		}
		if len(args) < 1 {
			return nil, fmt.Errorf("reference takes a resource id")
		}
		id, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("reference: the resource id is a %T", args[0])
		}
		return sc.reference(id)
	}
	return nil, fmt.Errorf("the template function %s() is not supported by this emulator (it has parameters, variables, concat, resourceId, resourceGroup, subscription, providers, reference)", name)
}

// resourceID is resourceId([subscriptionId,] [resourceGroupName,]
// 'Namespace/type[/child]', name[, childName]): the arguments before the
// type are those without a '/'.
func (sc *templateScope) resourceID(s []string) (string, error) {
	sub, rg := sc.sub, sc.rg
	i := slices.IndexFunc(s, func(a string) bool { return strings.Contains(a, "/") })
	switch i {
	case -1:
		return "", fmt.Errorf("resourceId: no resource type among %q", s)
	case 0:
	case 1:
		rg = s[0]
	case 2:
		sub, rg = s[0], s[1]
	default:
		return "", fmt.Errorf("resourceId: too many arguments before the type in %q", s)
	}
	typeParts := strings.Split(s[i], "/")
	names := s[i+1:]
	if len(typeParts) < 2 || len(names) != len(typeParts)-1 {
		return "", fmt.Errorf("resourceId: type %s needs %d names, not %d", s[i], len(typeParts)-1, len(names))
	}
	id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s", sub, rg, typeParts[0])
	for k, n := range names {
		id += "/" + typeParts[k+1] + "/" + n
	}
	return id, nil
}

// canonicalNamespace spells a provider namespace as the routes do.
func canonicalNamespace(ns string) string {
	if c, ok := armNamespaces[strings.ToLower(ns)]; ok {
		return c
	}
	return ns
}
