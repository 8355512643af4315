package fhirpath

import "strings"

// SplitUnion splits an expression on its top-level "|" operators (outside
// parentheses and string literals), trimming each part. SearchParameter
// expressions list one alternative per resource type this way
// ("Patient.name | Practitioner.name").
func SplitUnion(expr string) []string {
	var (
		parts []string
		depth int
		quote bool
		start int
	)
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\'' && (i == 0 || expr[i-1] != '\\'):
			quote = !quote
		case quote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, strings.TrimSpace(expr[start:i]))
			start = i + 1
		}
	}
	if rest := strings.TrimSpace(expr[start:]); rest != "" {
		parts = append(parts, rest)
	}
	return parts
}
