package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telehub/telehub/audit"
	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/store"
)

// Options configure a Policy.
type Options struct {
	// Auditor records consent decisions and break-the-glass accesses
	// (required: without it, Restrictions fails for a restricted caller
	// rather than deny or override unaudited).
	Auditor authz.Auditor
	// TTL is how long an answer is cached per token, and how old the
	// in-memory Consents may get before a refresh (default 5s).
	TTL time.Duration
	// MaxCached bounds the answers cached (default 10,000); when full, the
	// expired ones are dropped, then all.
	MaxCached int
	// Now returns the current time (default time.Now); tests move it.
	Now    func() time.Time
	Logger *slog.Logger
}

// Policy is the consent policy (authz.ConsentPolicy) over one store. It is
// safe for concurrent use.
type Policy struct {
	st    store.Store
	opts  Options
	rules *snapshot
	// resources writes the Communications of break-the-glass (UseResources).
	resources ResourceCreator
	// relationsLimit is maxRelations (tests lower it).
	relationsLimit int

	mu         sync.Mutex
	generation uint64 // bumped by Invalidate: older cached answers are void
	cache      map[string]cached
	// recorded holds the (token, patient) pairs whose deny or
	// break-the-glass has been recorded, with their expiry.
	recorded map[string]time.Time
	// inflight holds the answers being computed: the concurrent requests
	// of one token wait for the first one's instead of computing again.
	inflight map[string]*flight
}

type flight struct {
	done   chan struct{}
	answer authz.Restrictions
	err    error
}

var _ authz.ConsentPolicy = (*Policy)(nil)

type cached struct {
	answer     authz.Restrictions
	expires    time.Time
	generation uint64
}

// New returns the consent policy of the data in st.
func New(st store.Store, opts Options) *Policy {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Second
	}
	if opts.MaxCached <= 0 {
		opts.MaxCached = 10_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Policy{
		st:             st,
		opts:           opts,
		rules:          newSnapshot(st),
		relationsLimit: maxRelations,
		cache:          map[string]cached{},
		recorded:       map[string]time.Time{},
		inflight:       map[string]*flight{},
	}
}

// ResourceCreator creates FHIR resources through the FHIR layer's
// in-process API (*fhir.Server), so that what the policy writes is
// validated, indexed and published like any other write.
type ResourceCreator interface {
	Create(ctx context.Context, typ string, body []byte, ifNoneExist string) (*store.Resource, bool, error)
}

// UseResources gives the policy the FHIR API it writes its Communications
// through. The FHIR server needs the policy first, so it comes after New;
// call it before the policy serves requests. Without it, breaking the glass
// fails (closed): the patient could not be told.
func (p *Policy) UseResources(r ResourceCreator) { p.resources = r }

// Invalidate drops every cached answer and makes the next Restrictions
// re-read the Consents written since the last read. The FHIR layer calls
// it after a write of a Consent, CareTeam, Encounter, ServiceRequest or
// PractitionerRole.
func (p *Policy) Invalidate() {
	p.mu.Lock()
	p.generation++
	p.mu.Unlock()
	p.rules.invalidate()
}

// InputTypes are the resource types consent answers are computed from: the
// patients' Consents and the care relations.
var InputTypes = []string{"Consent", "CareTeam", "Encounter", "ServiceRequest", "PractitionerRole"}

// Affects reports whether a write of a resource of type typ may change an
// answer (the FHIR layer then calls Invalidate).
func (p *Policy) Affects(typ string) bool { return slices.Contains(InputTypes, typ) }

// Subject reports whether consent restricts pr (see the package documentation).
func Subject(pr *authz.Principal) bool {
	return pr != nil && !pr.Insecure && pr.FHIRUser != "" && !strings.HasPrefix(pr.FHIRUser, "Patient/")
}

// Restrictions returns the patients whose Consent closes their data to pr,
// or, when pr is a professional breaking the glass, the patients whose
// deny it overrides.
func (p *Policy) Restrictions(ctx context.Context, pr *authz.Principal) (authz.Restrictions, error) {
	if !Subject(pr) {
		return authz.Restrictions{}, nil
	}
	now := p.opts.Now()
	key := pr.TokenID + "\x00" + pr.FHIRUser + "\x00" + pr.Purpose
	p.mu.Lock()
	c, ok := p.cache[key]
	generation := p.generation
	if ok && c.generation == generation && now.Before(c.expires) {
		p.mu.Unlock()
		return c.answer, nil
	}
	if fl, ok := p.inflight[key]; ok {
		p.mu.Unlock()
		select {
		case <-fl.done:
			return fl.answer, fl.err
		case <-ctx.Done():
			return authz.Restrictions{}, fmt.Errorf("consent: %w", ctx.Err())
		}
	}
	fl := &flight{done: make(chan struct{})}
	p.inflight[key] = fl
	p.mu.Unlock()

	fl.answer, fl.err = p.compute(ctx, pr, now)
	p.mu.Lock()
	delete(p.inflight, key)
	if fl.err == nil {
		if len(p.cache) >= p.opts.MaxCached {
			p.prune(now)
		}
		p.cache[key] = cached{answer: fl.answer, expires: now.Add(p.opts.TTL), generation: generation}
	}
	p.mu.Unlock()
	close(fl.done)
	return fl.answer, fl.err
}

// prune drops expired answers and records, or everything when none has
// expired. The caller holds p.mu.
func (p *Policy) prune(now time.Time) {
	for k, c := range p.cache {
		if !now.Before(c.expires) || c.generation != p.generation {
			delete(p.cache, k)
		}
	}
	if len(p.cache) >= p.opts.MaxCached {
		clear(p.cache)
	}
	for k, exp := range p.recorded {
		if !now.Before(exp) {
			delete(p.recorded, k)
		}
	}
}

// denial is one patient a Consent closes to the caller.
type denial struct {
	patient string
	consent string // the deciding Consent's reference
}

// compute evaluates the Consents and care relations for pr.
func (p *Policy) compute(ctx context.Context, pr *authz.Principal, now time.Time) (authz.Restrictions, error) {
	rules, err := p.rules.current(ctx, now, p.opts.TTL)
	if err != nil {
		return authz.Restrictions{}, err
	}
	if len(rules) == 0 {
		return authz.Restrictions{}, nil
	}
	ids, err := identities(ctx, p.st, pr.FHIRUser)
	if err != nil {
		return authz.Restrictions{}, err
	}
	purpose := pr.Purpose
	if purpose == "" {
		purpose = purposeTreatment
	}
	denied := deniedPatients(rules, &caller{identities: ids, purpose: purpose, now: millis(now)})
	if len(denied) == 0 {
		return authz.Restrictions{}, nil
	}
	patients := make([]string, len(denied))
	for i, d := range denied {
		patients[i] = d.patient
	}
	care, err := inCare(ctx, p.st, ids, patients, p.relationsLimit)
	if err != nil {
		return authz.Restrictions{}, err
	}
	denied = slices.DeleteFunc(denied, func(d denial) bool { return care[d.patient] })
	if len(denied) == 0 {
		return authz.Restrictions{}, nil
	}
	if p.opts.Auditor == nil {
		return authz.Restrictions{}, errors.New("consent: a Consent applies but the policy has no Auditor to record it")
	}
	var answer authz.Restrictions
	if pr.Purpose == authz.PurposeEmergency && pr.IsProfessional() {
		if err := p.breakGlass(ctx, pr, denied, now); err != nil {
			return authz.Restrictions{}, err
		}
		for _, d := range denied {
			answer.Overridden = append(answer.Overridden, d.patient)
		}
		return answer, nil
	}
	if err := p.recordDenials(ctx, pr, denied, now); err != nil {
		return authz.Restrictions{}, err
	}
	for _, d := range denied {
		answer.DeniedPatients = append(answer.DeniedPatients, d.patient)
	}
	return answer, nil
}

// deniedPatients combines the decisions of every Consent per patient and
// returns the patients denied, in id order.
func deniedPatients(rules []*rule, c *caller) []denial {
	type verdict struct {
		decision
		consent string
	}
	per := map[string]verdict{}
	for _, r := range rules {
		d := r.decide(c)
		if v := per[r.patient]; d.outranks(v.decision) {
			per[r.patient] = verdict{d, r.ref}
		}
	}
	var out []denial
	for patient, v := range per {
		if v.deny {
			out = append(out, denial{patient: patient, consent: v.consent})
		}
	}
	slices.SortFunc(out, func(a, b denial) int { return strings.Compare(a.patient, b.patient) })
	return out
}

// recordDenials records a ConsentDecision for each denial not yet recorded
// for this token.
func (p *Policy) recordDenials(ctx context.Context, pr *authz.Principal, denied []denial, now time.Time) error {
	fresh := p.claim("deny", pr, denied, now)
	return p.recordAll(ctx, len(fresh), func(i int) error {
		d := fresh[i]
		return p.opts.Auditor.Record(ctx, audit.ConsentDecision(pr.Agent(), "Patient/"+d.patient, d.consent, audit.Target{}, false))
	}, func(i int) { p.release("deny", pr, fresh[i]) })
}

// claim returns the denials not yet recorded under kind for pr's token and
// marks them recorded (release undoes it when recording fails).
func (p *Policy) claim(kind string, pr *authz.Principal, denied []denial, now time.Time) []denial {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recorded) >= maxRecorded {
		p.prune(now)
		if len(p.recorded) >= maxRecorded {
			clear(p.recorded) // some pairs may be recorded twice: never less
		}
	}
	var fresh []denial
	for _, d := range denied {
		k := recordKey(kind, pr, d.patient)
		if exp, ok := p.recorded[k]; ok && now.Before(exp) {
			continue
		}
		p.recorded[k] = now.Add(recordedFor)
		fresh = append(fresh, d)
	}
	return fresh
}

func (p *Policy) release(kind string, pr *authz.Principal, d denial) {
	p.mu.Lock()
	delete(p.recorded, recordKey(kind, pr, d.patient))
	p.mu.Unlock()
}

// maxRecorded bounds the remembered (token, patient) pairs.
const maxRecorded = 100_000

// recordedFor is how long a recorded (token, patient) pair is remembered:
// longer than any access token lives.
const recordedFor = 24 * time.Hour

func recordKey(kind string, pr *authz.Principal, patient string) string {
	return kind + "|" + pr.TokenID + "|" + pr.FHIRUser + "|" + patient
}

// recordAll runs record(0..n-1) with bounded concurrency, so that the
// audit recorder groups them into few commits; on any failure it calls
// undo for the ones that failed and returns the first error.
func (p *Policy) recordAll(ctx context.Context, n int, record func(int) error, undo func(int)) error {
	const parallel = 32
	errs := make([]error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := record(i); err != nil {
				errs[i] = err
				undo(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("consent: record decision: %w", err)
		}
	}
	return nil
}
