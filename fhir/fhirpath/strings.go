package fhirpath

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"regexp"
	"strings"
)

// String functions.

func stringFn0(f func(s string) Collection) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, _ []Collection) (Collection, error) {
		s, ok, err := inputString(in)
		if err != nil || !ok {
			return nil, err
		}
		return f(s), nil
	}
}

func stringFn1(f func(s, a string) Collection) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, args []Collection) (Collection, error) {
		s, ok, err := inputString(in)
		if err != nil || !ok || len(args[0]) == 0 {
			return nil, err
		}
		a, err := singletonString(args[0])
		if err != nil {
			return nil, err
		}
		return f(s, a), nil
	}
}

// inputString reads the single string a string function applies to.
func inputString(in Collection) (string, bool, error) {
	it, ok, err := singleton(in)
	if err != nil || !ok {
		return "", false, err
	}
	s, isStr := systemValue(it).(string)
	if !isStr {
		return "", false, errorf("expected a string, got %s", it.Type)
	}
	return s, true, nil
}

func fnSubstring(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	s, ok, err := inputString(in)
	if err != nil || !ok {
		return nil, err
	}
	start, ok, err := singletonInt(a[0])
	if err != nil || !ok {
		return nil, err
	}
	runes := []rune(s)
	if start < 0 || int(start) >= len(runes) {
		return nil, nil
	}
	end := len(runes)
	if len(a) == 2 && len(a[1]) > 0 {
		n, _, err := singletonInt(a[1])
		if err != nil {
			return nil, err
		}
		end = min(end, int(start)+max(int(n), 0))
	}
	return str(string(runes[start:end])), nil
}

func toChars(s string) Collection {
	var out Collection
	for _, r := range s {
		out = append(out, Item{Value: string(r), Type: typeString})
	}
	return out
}

func fnReplace(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	s, ok, err := inputString(in)
	if err != nil || !ok || len(a[0]) == 0 || len(a[1]) == 0 {
		return nil, err
	}
	pattern, err := singletonString(a[0])
	if err != nil {
		return nil, err
	}
	sub, err := singletonString(a[1])
	if err != nil {
		return nil, err
	}
	return str(strings.ReplaceAll(s, pattern, sub)), nil
}

func fnMatches(full bool) func(*evaluator, Collection, []Collection) (Collection, error) {
	return func(_ *evaluator, in Collection, a []Collection) (Collection, error) {
		s, ok, err := inputString(in)
		if err != nil || !ok || len(a[0]) == 0 {
			return nil, err
		}
		pattern, err := singletonString(a[0])
		if err != nil {
			return nil, err
		}
		if full {
			pattern = "^(?:" + pattern + ")$"
		}
		re, err := regexp.Compile("(?s)" + pattern)
		if err != nil {
			return nil, errorf("bad regular expression: %w", err)
		}
		return boolean(re.MatchString(s)), nil
	}
}

func fnReplaceMatches(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	s, ok, err := inputString(in)
	if err != nil || !ok || len(a[0]) == 0 || len(a[1]) == 0 {
		return nil, err
	}
	pattern, err := singletonString(a[0])
	if err != nil {
		return nil, err
	}
	sub, err := singletonString(a[1])
	if err != nil {
		return nil, err
	}
	if pattern == "" {
		return str(s), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, errorf("bad regular expression: %w", err)
	}
	return str(re.ReplaceAllString(s, sub)), nil
}

func splitString(s, sep string) Collection {
	var out Collection
	for _, part := range strings.Split(s, sep) {
		out = append(out, Item{Value: part, Type: typeString})
	}
	return out
}

func fnJoin(_ *evaluator, in Collection, a []Collection) (Collection, error) {
	sep := ""
	if len(a) == 1 {
		var err error
		if sep, err = singletonString(a[0]); err != nil {
			return nil, err
		}
	}
	parts := make([]string, 0, len(in))
	for _, it := range in {
		s, ok := systemValue(it).(string)
		if !ok {
			return nil, errorf("join() needs strings, got %s", it.Type)
		}
		parts = append(parts, s)
	}
	return str(strings.Join(parts, sep)), nil
}

func encode(s, format string) Collection {
	switch format {
	case "base64":
		return str(base64.StdEncoding.EncodeToString([]byte(s)))
	case "urlbase64":
		return str(base64.URLEncoding.EncodeToString([]byte(s)))
	case "hex":
		return str(hex.EncodeToString([]byte(s)))
	}
	return nil
}

func decode(s, format string) Collection {
	var b []byte
	var err error
	switch format {
	case "base64":
		b, err = base64.StdEncoding.DecodeString(s)
	case "urlbase64":
		b, err = base64.URLEncoding.DecodeString(s)
	case "hex":
		b, err = hex.DecodeString(s)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return str(string(b))
}

func escape(s, format string) Collection {
	switch format {
	case "html":
		return str(htmlEscaper.Replace(s))
	case "json":
		return str(jsonEscaper.Replace(s))
	}
	return nil
}

var (
	htmlEscaper   = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	jsonEscaper   = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	jsonUnescaper = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n", `\r`, "\r", `\t`, "\t")
)

func unescapeString(s, format string) Collection {
	switch format {
	case "html":
		return str(html.UnescapeString(s))
	case "json":
		var out string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
			return str(jsonUnescaper.Replace(s))
		}
		return str(out)
	}
	return nil
}
