package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/telehub/telehub/store"
)

// bundleOut is the JSON of the Bundles the server answers (searchset,
// history, batch-response, transaction-response). Resources are embedded as
// the stored bytes.
type bundleOut struct {
	ResourceType string     `json:"resourceType"`
	ID           string     `json:"id,omitempty"`
	Meta         *metaOut   `json:"meta,omitempty"`
	Type         string     `json:"type"`
	Total        *int       `json:"total,omitempty"`
	Link         []linkOut  `json:"link,omitempty"`
	Entry        []entryOut `json:"entry,omitempty"`
}

type metaOut struct {
	LastUpdated string `json:"lastUpdated"`
}

type linkOut struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type entryOut struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *searchOut      `json:"search,omitempty"`
	Request  *requestOut     `json:"request,omitempty"`
	Response *responseOut    `json:"response,omitempty"`
}

type searchOut struct {
	Mode string `json:"mode"`
}

type requestOut struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type responseOut struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

func newBundle(typ string) *bundleOut {
	return &bundleOut{
		ResourceType: "Bundle", ID: newID(), Type: typ,
		Meta: &metaOut{LastUpdated: instant(time.Now())},
	}
}

func (b *bundleOut) marshal() ([]byte, error) {
	out, err := encodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("fhir: encode %s bundle: %w", b.Type, err)
	}
	return out, nil
}

// encodeJSON is json.Marshal without HTML escaping: links keep their "&"
// and embedded resources their bytes.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// instant formats a FHIR instant in UTC with milliseconds.
func instant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// page locates one page of a search or history: its size and offset, and
// for stores that page by cursor (stable while others write) the cursor it
// was read with and the one that continues it.
type page struct {
	count, offset int
	cursor, next  string
	more          bool
}

// pageLinks adds self, previous and next links. A next link continues by
// the store's cursor when it gives one (_cursor: opaque to clients, which
// follow links, stateless for the server, and stable while others write),
// by _offset otherwise. Previous links exist only on pages reached by
// _offset: a cursor runs forwards only, which the specification allows.
func pageLinks(b *bundleOut, base string, params url.Values, pg page) {
	link := func(relation string, off int, cursor string) {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Set("_count", strconv.Itoa(pg.count))
		if off > 0 {
			p.Set("_offset", strconv.Itoa(off))
		}
		if cursor != "" {
			p.Set("_cursor", cursor)
		}
		b.Link = append(b.Link, linkOut{Relation: relation, URL: base + "?" + p.Encode()})
	}
	link("self", pg.offset, pg.cursor)
	if pg.cursor == "" && pg.offset > 0 && pg.count > 0 {
		link("previous", max(0, pg.offset-pg.count), "")
	}
	switch {
	case !pg.more || pg.count == 0:
	case pg.next != "":
		link("next", 0, pg.next)
	default:
		link("next", pg.offset+pg.count, "")
	}
}

// historyEntry is one version in a history Bundle.
func (s *Server) historyEntry(r *store.Resource) entryOut {
	e := entryOut{FullURL: s.resourceURL(r.Type, r.ID)}
	req := &requestOut{Method: r.Method, URL: r.Type + "/" + r.ID}
	resp := &responseOut{Status: statusText(200), Etag: etag(r.VersionID), LastModified: instant(r.LastUpdated)}
	switch {
	case r.Deleted:
		req.Method = "DELETE"
	case r.Method == "POST":
		req.URL = r.Type
		resp.Status = statusText(201)
	case r.VersionID == 1:
		resp.Status = statusText(201)
	}
	if req.Method == "" {
		req.Method = "PUT"
	}
	if !r.Deleted {
		e.Resource = r.Body
	}
	e.Request, e.Response = req, resp
	return e
}
