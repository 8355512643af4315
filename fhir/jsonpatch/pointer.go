package jsonpatch

import (
	"fmt"
	"strconv"
	"strings"
)

// pointer is a parsed JSON Pointer (RFC 6901): its unescaped reference tokens.
// The empty pointer designates the whole document.
type pointer []string

func parsePointer(s string) (pointer, error) {
	if s == "" {
		return pointer{}, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("%q is not a JSON pointer (it must be empty or start with /)", s)
	}
	tokens := strings.Split(s[1:], "/")
	for i, t := range tokens {
		u, err := unescape(t)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		tokens[i] = u
	}
	return tokens, nil
}

// unescape decodes ~1 to / and then ~0 to ~, in that order, as RFC 6901
// requires ("~01" is "~1", not "/").
func unescape(token string) (string, error) {
	if !strings.Contains(token, "~") {
		return token, nil
	}
	var b strings.Builder
	for i := 0; i < len(token); i++ {
		if token[i] != '~' {
			b.WriteByte(token[i])
			continue
		}
		if i+1 == len(token) || (token[i+1] != '0' && token[i+1] != '1') {
			return "", fmt.Errorf("bad escape in %q (~ must be followed by 0 or 1)", token)
		}
		if token[i+1] == '0' {
			b.WriteByte('~')
		} else {
			b.WriteByte('/')
		}
		i++
	}
	return b.String(), nil
}

func (p pointer) String() string {
	var b strings.Builder
	for _, t := range p {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// isPrefixOf reports whether p designates a proper ancestor of q.
func (p pointer) isPrefixOf(q pointer) bool {
	if len(p) >= len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// arrayIndex parses an array index token. allowEnd accepts "-" and len (the
// position after the last element), as add needs.
func arrayIndex(token string, length int, allowEnd bool) (int, error) {
	if token == "-" {
		if allowEnd {
			return length, nil
		}
		return 0, fmt.Errorf("index \"-\" (past the end) designates no element")
	}
	if token == "" || (len(token) > 1 && token[0] == '0') || strings.TrimLeft(token, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an array index", token)
	}
	i, err := strconv.Atoi(token)
	if err != nil {
		return 0, fmt.Errorf("%q is not an array index", token)
	}
	limit := length - 1
	if allowEnd {
		limit = length
	}
	if i > limit {
		return 0, fmt.Errorf("index %d is out of bounds (array of %d)", i, length)
	}
	return i, nil
}

// get returns the value p designates in root.
func get(root any, p pointer) (any, error) {
	cur := root
	for n, token := range p {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[token]
			if !ok {
				return nil, fmt.Errorf("%s does not exist", p[:n+1])
			}
			cur = v
		case []any:
			i, err := arrayIndex(token, len(c), false)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p[:n+1], err)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%s does not exist (%s is not an object or array)", p[:n+1], p[:n])
		}
	}
	return cur, nil
}
