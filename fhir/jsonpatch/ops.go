package jsonpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// The operations below never modify a container in place: they rebuild the
// containers along the path, so the document before a failing operation
// stays intact and values shared by copy cannot alias.

// add inserts value at path: a new object member, a replaced member, or an
// array element inserted before the index ("-" appends).
func add(root any, path pointer, value any) (any, error) {
	if len(path) == 0 {
		return value, nil
	}
	return update(root, path, func(parent any, token string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			out := cloneObject(c)
			out[token] = value
			return out, nil
		case []any:
			i, err := arrayIndex(token, len(c), true)
			if err != nil {
				return nil, err
			}
			out := make([]any, 0, len(c)+1)
			out = append(out, c[:i]...)
			out = append(out, value)
			return append(out, c[i:]...), nil
		default:
			return nil, fmt.Errorf("the parent %s is not an object or array", path[:len(path)-1])
		}
	})
}

// remove deletes the value at path and returns it.
func remove(root any, path pointer) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the whole document")
	}
	var removed any
	out, err := update(root, path, func(parent any, token string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			v, ok := c[token]
			if !ok {
				return nil, errNotFound
			}
			removed = v
			out := cloneObject(c)
			delete(out, token)
			return out, nil
		case []any:
			i, err := arrayIndex(token, len(c), false)
			if err != nil {
				return nil, err
			}
			removed = c[i]
			out := make([]any, 0, len(c)-1)
			out = append(out, c[:i]...)
			return append(out, c[i+1:]...), nil
		default:
			return nil, errNotFound
		}
	})
	return out, removed, err
}

// replace sets the value at path, which must exist.
func replace(root any, path pointer, value any) (any, error) {
	if len(path) == 0 {
		return value, nil
	}
	return update(root, path, func(parent any, token string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			if _, ok := c[token]; !ok {
				return nil, errNotFound
			}
			out := cloneObject(c)
			out[token] = value
			return out, nil
		case []any:
			i, err := arrayIndex(token, len(c), false)
			if err != nil {
				return nil, err
			}
			out := append([]any(nil), c...)
			out[i] = value
			return out, nil
		default:
			return nil, errNotFound
		}
	})
}

func move(root any, from, path pointer) (any, error) {
	if from.isPrefixOf(path) {
		return nil, fmt.Errorf("cannot move %s into its own child %s", from, path)
	}
	if from.String() == path.String() {
		if _, err := get(root, from); err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		return root, nil
	}
	out, value, err := remove(root, from)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	return add(out, path, value)
}

func copyValue(root any, from, path pointer) (any, error) {
	value, err := get(root, from)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	return add(root, path, value)
}

func test(root any, path pointer, want any) error {
	got, err := get(root, path)
	if err != nil {
		return err
	}
	if !equal(got, want) {
		return fmt.Errorf("test failed: the value at %s differs", path)
	}
	return nil
}

var errNotFound = errors.New("does not exist")

// update rebuilds the containers from root down to path's parent, letting
// change produce the new parent from the old one and the last token.
func update(root any, path pointer, change func(parent any, token string) (any, error)) (any, error) {
	return updateFrom(root, path, 0, change)
}

func updateFrom(node any, path pointer, depth int, change func(parent any, token string) (any, error)) (any, error) {
	if depth == len(path)-1 {
		out, err := change(node, path[depth])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return out, nil
	}
	token := path[depth]
	switch c := node.(type) {
	case map[string]any:
		child, ok := c[token]
		if !ok {
			return nil, fmt.Errorf("%s does not exist", path[:depth+1])
		}
		newChild, err := updateFrom(child, path, depth+1, change)
		if err != nil {
			return nil, err
		}
		out := cloneObject(c)
		out[token] = newChild
		return out, nil
	case []any:
		i, err := arrayIndex(token, len(c), false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path[:depth+1], err)
		}
		newChild, err := updateFrom(c[i], path, depth+1, change)
		if err != nil {
			return nil, err
		}
		out := append([]any(nil), c...)
		out[i] = newChild
		return out, nil
	default:
		return nil, fmt.Errorf("%s does not exist (%s is not an object or array)", path[:depth+1], path[:depth])
	}
}

func cloneObject(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// equal is the deep equality of RFC 6902 test: objects by members in any
// order, arrays element by element, numbers by numeric value.
func equal(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, v := range av {
			w, ok := bv[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equal(av[i], bv[i]) {
				return false
			}
		}
		return true
	case json.Number:
		bv, ok := b.(json.Number)
		return ok && numbersEqual(av, bv)
	default:
		return a == b
	}
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	// big.Float keeps huge exponents cheap (big.Rat would expand them);
	// at 512 bits two different JSON decimals do not round to one value in
	// practice.
	x, _, errx := big.ParseFloat(string(a), 10, 512, big.ToNearestEven)
	y, _, erry := big.ParseFloat(string(b), 10, 512, big.ToNearestEven)
	return errx == nil && erry == nil && x.Cmp(y) == 0
}
