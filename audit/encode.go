package audit

import (
	"strconv"
	"unicode/utf8"
)

// The event's JSON is written by hand rather than by encoding/json: the
// shapes are few and fixed, and reflection cost about as much as the rest
// of building an event, once per audited request. The output is byte for
// byte what encoding/json gives for the same structs with HTML escaping
// off (TestEncodeLikeEncodingJSON holds the two together): members in the
// order of the struct fields, empty ones left out as omitempty does.

// jsonWriter appends JSON members to b, a comma before all but the first
// of an object's members.
type jsonWriter struct {
	b     []byte
	first bool // the next member is the first of its object
}

func (w *jsonWriter) open(c byte) {
	w.b = append(w.b, c)
	w.first = true
}

func (w *jsonWriter) close(c byte) {
	w.b = append(w.b, c)
	w.first = false
}

// key starts a member.
func (w *jsonWriter) key(name string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

// element starts an array element.
func (w *jsonWriter) element() {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
}

func (w *jsonWriter) str(name, value string) {
	w.key(name)
	w.b = appendJSONString(w.b, value)
}

// optStr writes a string member unless it is empty (omitempty).
func (w *jsonWriter) optStr(name, value string) {
	if value != "" {
		w.str(name, value)
	}
}

func (w *jsonWriter) boolean(name string, v bool) {
	w.key(name)
	w.b = strconv.AppendBool(w.b, v)
}

func (e *auditEvent) appendJSON(b []byte) []byte {
	w := &jsonWriter{b: b}
	w.open('{')
	w.str("resourceType", e.ResourceType)
	w.key("type")
	w.coding(e.Type)
	if len(e.Subtype) > 0 {
		w.key("subtype")
		w.codings(e.Subtype)
	}
	w.optStr("action", e.Action)
	w.str("recorded", e.Recorded)
	w.optStr("outcome", string(e.Outcome))
	w.optStr("outcomeDesc", e.OutcomeDesc)
	if len(e.PurposeOfEvent) > 0 {
		w.key("purposeOfEvent")
		w.concepts(e.PurposeOfEvent)
	}
	w.key("agent")
	w.agents(e.Agent)
	w.key("source")
	w.source(e.Source)
	if len(e.Entity) > 0 {
		w.key("entity")
		w.entities(e.Entity)
	}
	w.close('}')
	return w.b
}

func (w *jsonWriter) coding(c coding) {
	w.open('{')
	w.optStr("system", c.System)
	w.optStr("code", c.Code)
	w.optStr("display", c.Display)
	w.close('}')
}

// writeArray writes items as a JSON array, each with write.
func writeArray[T any](w *jsonWriter, items []T, write func(*jsonWriter, T)) {
	w.open('[')
	for _, item := range items {
		w.element()
		write(w, item)
	}
	w.close(']')
}

func (w *jsonWriter) codings(cs []coding) { writeArray(w, cs, (*jsonWriter).coding) }

func (w *jsonWriter) concept(c concept) {
	w.open('{')
	if len(c.Coding) > 0 {
		w.key("coding")
		w.codings(c.Coding)
	}
	w.optStr("text", c.Text)
	w.close('}')
}

func (w *jsonWriter) concepts(cs []concept) { writeArray(w, cs, (*jsonWriter).concept) }

func (w *jsonWriter) reference(r reference) {
	w.open('{')
	w.optStr("reference", r.Reference)
	if r.Identifier != nil {
		w.key("identifier")
		w.open('{')
		w.optStr("system", r.Identifier.System)
		w.optStr("value", r.Identifier.Value)
		w.close('}')
	}
	w.optStr("display", r.Display)
	w.close('}')
}

func (w *jsonWriter) agents(as []agentJSON) {
	if as == nil {
		w.b = append(w.b, "null"...) // as encoding/json writes a nil slice
		return
	}
	writeArray(w, as, (*jsonWriter).agent)
}

func (w *jsonWriter) agent(a agentJSON) {
	w.open('{')
	if a.Type != nil {
		w.key("type")
		w.concept(*a.Type)
	}
	if a.Who != nil {
		w.key("who")
		w.reference(*a.Who)
	}
	w.optStr("name", a.Name)
	w.boolean("requestor", a.Requestor)
	if a.Network != nil {
		w.key("network")
		w.open('{')
		w.str("address", a.Network.Address)
		w.str("type", a.Network.Type)
		w.close('}')
	}
	if len(a.PurposeOfUse) > 0 {
		w.key("purposeOfUse")
		w.concepts(a.PurposeOfUse)
	}
	w.close('}')
}

func (w *jsonWriter) source(s sourceJSON) {
	w.open('{')
	w.optStr("site", s.Site)
	w.key("observer")
	w.reference(s.Observer)
	if len(s.Type) > 0 {
		w.key("type")
		w.codings(s.Type)
	}
	w.close('}')
}

func (w *jsonWriter) entities(es []entity) { writeArray(w, es, (*jsonWriter).entity) }

func (w *jsonWriter) entity(en entity) {
	w.open('{')
	if en.What != nil {
		w.key("what")
		w.reference(*en.What)
	}
	if en.Type != nil {
		w.key("type")
		w.coding(*en.Type)
	}
	if en.Role != nil {
		w.key("role")
		w.coding(*en.Role)
	}
	w.optStr("description", en.Description)
	w.optStr("query", en.Query)
	if len(en.Detail) > 0 {
		w.key("detail")
		writeArray(w, en.Detail, (*jsonWriter).detail)
	}
	w.close('}')
}

func (w *jsonWriter) detail(d detail) {
	w.open('{')
	w.str("type", d.Type)
	w.str("valueString", d.ValueString)
	w.close('}')
}

const hex = "0123456789abcdef"

// plainJSON tells the ASCII bytes a JSON string holds as they are: one
// lookup per byte of the event's strings rather than three comparisons.
var plainJSON = func() (plain [utf8.RuneSelf]bool) {
	for c := range plain {
		plain[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return plain
}()

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD, and U+2028 and U+2029
// escaped (JavaScript reads them as line ends).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainJSON[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
