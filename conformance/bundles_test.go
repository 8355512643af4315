package conformance

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
)

// bundleOutcome is what a transaction example must come to on a backend
// with transactions.
type bundleOutcome int

const (
	// mustCommit: every entry is processed and the response lists them all.
	mustCommit bundleOutcome = iota
	// mustFail: some entry cannot succeed, so nothing may be stored.
	mustFail
	// commitOrRefuse: the example bends a rule a server may enforce or
	// tolerate; either every entry is processed or the whole Bundle is
	// refused with 400, never anything in between.
	commitOrRefuse
)

// transactionExamples lists every transaction Bundle among the
// specification examples, with what must become of it and why.
var transactionExamples = map[string]struct {
	outcome bundleOutcome
	why     string
}{
	"Bundle-hla-1.json": {mustCommit, "22 POSTs whose references between entries use urn:uuid fullUrls"},
	"Bundle-xds.json": {commitOrRefuse, "5 POSTs; the Patient entry's ifNoneExist is " +
		"\"Patient?identifier=…\" where R4 wants only the query part after the '?'"},
	"Bundle-bundle-transaction.json": {mustFail, "entry 5 PUTs Patient/123a with ifMatch W/\"2\" although it does " +
		"not exist, and entry 10 reads Patient/12334, which does not exist either"},
	"Bundle-ussg-fht.json": {commitOrRefuse, "11 PUTs whose request.url are absolute URLs on another " +
		"server's base, where R4 wants URLs relative to the server's root"},
}

// batchExamples lists every batch Bundle among the examples; all their
// entries are searches and reads.
var batchExamples = []string{
	"Bundle-bundle-request-medsallergies.json",
	"Bundle-bundle-request-simplesummary.json",
}

// checkBundleExamples POSTs the transaction and batch examples to the
// server's root, after every example has been stored, and checks what the
// responses say. Batches go first: their searches count stored examples.
func checkBundleExamples(t *testing.T, srv *server, examples []example) {
	var transactions, batches []example
	for _, ex := range examples {
		if ex.typ != "Bundle" {
			continue
		}
		switch str(ex.doc, "type") {
		case "transaction":
			transactions = append(transactions, ex)
		case "batch":
			batches = append(batches, ex)
		}
	}
	if got := names(batches); strings.Join(got, ",") != strings.Join(batchExamples, ",") {
		t.Errorf("batch examples are %v, want %v", got, batchExamples)
	}
	if len(transactions) != len(transactionExamples) {
		t.Errorf("found %d transaction examples (%v), the table knows %d", len(transactions), names(transactions), len(transactionExamples))
	}
	for _, ex := range batches {
		t.Run(ex.file, func(t *testing.T) { checkBatchExample(t, srv, ex, examples) })
	}
	for _, ex := range transactions {
		t.Run(ex.file, func(t *testing.T) {
			want, known := transactionExamples[ex.file]
			if !known {
				t.Fatalf("transaction example %s is not in transactionExamples", ex.file)
			}
			checkTransactionExample(t, srv, ex, want.outcome, want.why)
		})
	}
}

func names(examples []example) []string {
	var out []string
	for _, ex := range examples {
		out = append(out, ex.file)
	}
	sort.Strings(out)
	return out
}

// systemHistoryTotal is the number of versions the server holds, all types.
func systemHistoryTotal(t testing.TB, srv *server) int64 {
	t.Helper()
	resp := srv.get(t, "_history?_count=1")
	if resp.status != http.StatusOK {
		t.Fatalf("system history: %v", resp)
	}
	total := num(resp.object(t), "total")
	if total < 0 {
		t.Fatalf("system history Bundle has no total: %v", resp)
	}
	return total
}

func checkTransactionExample(t *testing.T, srv *server, ex example, outcome bundleOutcome, why string) {
	before := systemHistoryTotal(t, srv)
	resp := srv.do(t, request{method: http.MethodPost, path: srv.base, body: ex.raw})
	entries, _ := ex.doc["entry"].([]any)

	if !srv.backend.transactions {
		checkTransactionRefusal(t, srv, resp, true)
		if after := systemHistoryTotal(t, srv); after != before {
			t.Errorf("refused transaction changed the store: %d versions before, %d after", before, after)
		}
		return
	}

	switch {
	case resp.status == http.StatusOK:
		if outcome == mustFail {
			t.Errorf("transaction must fail (%s) but was committed: %v", why, resp)
		}
		checkCommittedTransaction(t, srv, ex, resp, before)
	case outcome == mustCommit:
		t.Errorf("transaction must commit (%s): %v", why, resp)
	case outcome == commitOrRefuse && resp.status != http.StatusBadRequest:
		t.Errorf("transaction (%s) must commit or be refused with 400: %v", why, resp)
	default:
		if resp.status < 400 || resp.status == http.StatusInternalServerError {
			t.Errorf("failed transaction (%s): want a 4xx, got %v", why, resp)
		}
		resp.requireOutcome(t)
		if after := systemHistoryTotal(t, srv); after != before {
			t.Errorf("failed transaction of %d entries changed the store: %d versions before, %d after", len(entries), before, after)
		}
		t.Logf("refused (%s): %d", why, resp.status)
	}
}

// checkTransactionRefusal checks how a backend without multi-document
// transactions refuses a transaction Bundle: 400, 422 or 501 with an
// OperationOutcome; when the Bundle itself is fine, the issue must say
// "not-supported" so the client knows retrying will not help.
func checkTransactionRefusal(t *testing.T, srv *server, resp response, wellFormed bool) {
	t.Helper()
	if !slices.Contains([]int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusNotImplemented}, resp.status) {
		t.Errorf("%s has no transactions: want 400, 422 or 501, got %v", srv.backend.name, resp)
	}
	doc := resp.requireOutcome(t)
	if wellFormed && doc != nil && str(doc, "issue", 0, "code") != "not-supported" {
		t.Errorf("%s refused a well-formed transaction with issue code %q, want not-supported: %v", srv.backend.name, str(doc, "issue", 0, "code"), resp)
	}
}

// checkCommittedTransaction checks a transaction-response: one entry per
// request entry with its status and location, every new version stored,
// and each urn:uuid reference between entries rewritten to the new
// resource's Type/id.
func checkCommittedTransaction(t *testing.T, srv *server, ex example, resp response, before int64) {
	doc := resp.object(t)
	if str(doc, "type") != "transaction-response" {
		t.Errorf("response Bundle type %q, want transaction-response", str(doc, "type"))
	}
	reqEntries, _ := ex.doc["entry"].([]any)
	respEntries, _ := doc["entry"].([]any)
	if len(respEntries) != len(reqEntries) {
		t.Fatalf("response has %d entries, request %d", len(respEntries), len(reqEntries))
	}
	fullURLs := map[string]string{} // request fullUrl → stored Type/id
	var writes int64
	for i, re := range respEntries {
		method := str(reqEntries[i], "request", "method")
		status := str(re, "response", "status")
		location := str(re, "response", "location")
		if method != http.MethodPost && method != http.MethodPut {
			continue
		}
		if !strings.HasPrefix(status, "201") && !strings.HasPrefix(status, "200") {
			t.Errorf("entry %d (%s): status %q", i, method, status)
			continue
		}
		typeID := locationTypeID(location)
		if typeID == "" {
			t.Errorf("entry %d (%s): response.location %q is not Type/id/_history/n", i, method, location)
			continue
		}
		writes++
		if fu := str(reqEntries[i], "fullUrl"); fu != "" {
			fullURLs[fu] = typeID
		}
	}
	if after := systemHistoryTotal(t, srv); after != before+writes {
		t.Errorf("store holds %d versions after the transaction, want %d + %d", after, before, writes)
	}
	// Each urn:uuid reference in the request must now point at the stored resource.
	wantRefs := map[string]int{}
	for _, re := range reqEntries {
		for _, ref := range references(field(re, "resource")) {
			if target, ok := fullURLs[ref]; ok && strings.HasPrefix(ref, "urn:uuid:") {
				wantRefs[target]++
			}
		}
	}
	gotRefs := map[string]int{}
	for _, typeID := range fullURLs {
		read := srv.get(t, typeID)
		if read.status != http.StatusOK {
			t.Errorf("read %s after the transaction: %v", typeID, read)
			continue
		}
		for _, ref := range references(read.object(t)) {
			if strings.HasPrefix(ref, "urn:uuid:") {
				t.Errorf("%s still holds the reference %q", typeID, ref)
			}
			gotRefs[ref]++
		}
	}
	for target, n := range wantRefs {
		if gotRefs[target] < n {
			t.Errorf("%d urn:uuid references to %s were sent, %d stored resources reference it", n, target, gotRefs[target])
		}
	}
	t.Logf("committed: %d writes, %d urn:uuid references resolved", writes, len(wantRefs))
}

// locationTypeID returns "Type/id" from a location "…Type/id/_history/n".
func locationTypeID(location string) string {
	path := location
	if u, err := url.Parse(location); err == nil && u.Path != "" {
		path = u.Path
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 4 || parts[len(parts)-2] != "_history" {
		return ""
	}
	return parts[len(parts)-4] + "/" + parts[len(parts)-3]
}

// references lists every Reference.reference value in a decoded resource.
func references(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && k == "reference" {
					out = append(out, s)
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// checkBatchExample POSTs a batch of reads and searches: every entry gets a
// response, failures carry an OperationOutcome, and the searches that
// succeed return what was stored.
func checkBatchExample(t *testing.T, srv *server, ex example, examples []example) {
	before := systemHistoryTotal(t, srv)
	resp := srv.do(t, request{method: http.MethodPost, path: srv.base, body: ex.raw})
	if resp.status != http.StatusOK {
		t.Fatalf("batch: %v", resp)
	}
	doc := resp.object(t)
	if str(doc, "type") != "batch-response" {
		t.Errorf("response Bundle type %q, want batch-response", str(doc, "type"))
	}
	reqEntries, _ := ex.doc["entry"].([]any)
	respEntries, _ := doc["entry"].([]any)
	if len(respEntries) != len(reqEntries) {
		t.Fatalf("response has %d entries, request %d: %v", len(respEntries), len(reqEntries), resp)
	}
	for i, re := range respEntries {
		target := str(reqEntries[i], "request", "url")
		status := str(re, "response", "status")
		if !strings.HasPrefix(status, "2") {
			outcome, _ := field(re, "response", "outcome").(map[string]any)
			if outcome == nil || outcomeProblem(outcome) != "" {
				t.Errorf("entry %d (GET %s) failed with %q and no OperationOutcome", i, target, status)
			}
			t.Logf("entry %d GET %s: %s %s", i, target, status, str(outcome, "issue", 0, "diagnostics"))
			continue
		}
		checkBatchRead(t, target, field(re, "resource"), examples)
	}
	if after := systemHistoryTotal(t, srv); after != before {
		t.Errorf("a batch of reads changed the store: %d versions before, %d after", before, after)
	}
}

// checkBatchRead checks one successful GET entry of a batch example against
// the stored examples.
func checkBatchRead(t *testing.T, target string, got any, examples []example) {
	u, err := url.Parse(strings.TrimPrefix(target, "/"))
	if err != nil {
		t.Errorf("entry url %q: %v", target, err)
		return
	}
	if u.RawQuery == "" { // a read: Patient/example
		if want := u.Path; str(got, "resourceType")+"/"+str(got, "id") != want {
			t.Errorf("GET %s returned %s/%s", target, str(got, "resourceType"), str(got, "id"))
		}
		return
	}
	if str(got, "resourceType") != "Bundle" || str(got, "type") != "searchset" {
		t.Errorf("GET %s: want a searchset Bundle, got %s", target, short(got))
		return
	}
	q := u.Query()
	want := map[string]bool{}
	for _, ex := range examples {
		if _, invalid := invalidExamples[ex.file]; invalid || ex.typ != u.Path {
			continue
		}
		if q.Get("patient") == "example" && !referencesPatientExample(ex.doc) {
			continue
		}
		if code := q.Get("code"); code != "" && !hasCoding(ex.doc, code) {
			continue
		}
		want[ex.id] = true
	}
	matched := map[string]bool{}
	entries, _ := field(got, "entry").([]any)
	for _, e := range entries {
		if mode := str(e, "search", "mode"); mode == "include" || mode == "outcome" {
			continue
		}
		matched[str(e, "resource", "id")] = true
	}
	// _list narrows a search to a List's members; a server that does not
	// support it may ignore it, so its matches need only be a subset.
	subsetOnly := q.Has("_list")
	for id := range matched {
		if !want[id] {
			t.Errorf("GET %s matched %s/%s, which does not satisfy the search", target, u.Path, id)
		}
	}
	if !subsetOnly {
		for id := range want {
			if !matched[id] {
				t.Errorf("GET %s did not match %s/%s", target, u.Path, id)
			}
		}
	}
}

func referencesPatientExample(doc map[string]any) bool {
	return str(doc, "subject", "reference") == "Patient/example" || str(doc, "patient", "reference") == "Patient/example"
}

// hasCoding reports whether doc.code has a coding "system|code".
func hasCoding(doc map[string]any, token string) bool {
	system, code, _ := strings.Cut(token, "|")
	codings, _ := field(doc, "code", "coding").([]any)
	for _, c := range codings {
		if str(c, "system") == system && str(c, "code") == code {
			return true
		}
	}
	return false
}
