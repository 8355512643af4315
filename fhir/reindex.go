package fhir

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/telehub/telehub/store"
)

// Reindexing: after a SearchParameter is created or changed, the resources
// of its base types written before it have no entries for it. POST
// [base]/SearchParameter/[id]/$reindex (one parameter's bases) or POST
// [base]/$reindex (the bases of every custom parameter) starts a background
// job that recomputes their index entries (store.Reindex, no new versions),
// walking them by cursor. It answers 202 with a Content-Location to
// [base]/$reindex/[job], which answers a Parameters resource with the
// progress: 202 while the job runs, 200 once it is done.

const opReindex = "$reindex"

// reindexPageSize is how many resources a job reads at a time.
const reindexPageSize = 200

// reindexJob is one reindex in progress or done.
type reindexJob struct {
	id        string
	types     []string
	total     atomic.Int64
	processed atomic.Int64
	skipped   atomic.Int64 // changed or deleted meanwhile: their write indexed them
	done      atomic.Bool
	mu        sync.Mutex
	err       string
}

// maxReindexJobs bounds the jobs kept for their status: beyond it, the
// oldest finished ones are forgotten (their status URL answers 404).
const maxReindexJobs = 100

// reindexJobs are the jobs of one Server, kept for their status.
type reindexJobs struct {
	mu    sync.Mutex
	jobs  map[string]*reindexJob
	order []string // job ids, oldest first
}

func newReindexJobs() *reindexJobs { return &reindexJobs{jobs: map[string]*reindexJob{}} }

func (j *reindexJobs) get(id string) (*reindexJob, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[id]
	return job, ok
}

func (j *reindexJobs) add(job *reindexJob) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.jobs[job.id] = job
	j.order = append(j.order, job.id)
	for i := 0; len(j.order) > maxReindexJobs && i < len(j.order); {
		if id := j.order[i]; j.jobs[id].done.Load() {
			delete(j.jobs, id)
			j.order = append(j.order[:i], j.order[i+1:]...)
			continue
		}
		i++
	}
}

// startReindex answers POST SearchParameter/[id]/$reindex and POST $reindex.
func (s *Server) startReindex(c echo.Context) error {
	c.Set(InteractionKey, "operation")
	ctx := c.Request().Context()
	var types []string
	if id := c.Param("id"); id != "" {
		if c.Param("type") != "SearchParameter" {
			return newError(http.StatusNotFound, codeNotSupported, "$reindex is served on SearchParameter instances and the system")
		}
		r, err := s.readVersion(ctx, "SearchParameter", id, "")
		if err != nil {
			return err
		}
		p, err := s.customFrom(id, r.Body)
		if err != nil {
			return badRequest(codeNotSupported, "SearchParameter/%s is not searchable here: %s", id, err)
		}
		if p == nil {
			return badRequest(codeBusinessRule, "SearchParameter/%s is not active", id)
		}
		types = p.bases
	} else {
		types = s.custom.types()
	}
	job := &reindexJob{id: newID(), types: types}
	s.reindex.add(job)
	// The job outlives the request that started it.
	go s.runReindex(context.WithoutCancel(ctx), job)
	c.Response().Header().Set("Content-Location", s.opts.BaseURL+"/"+opReindex+"/"+job.id)
	return send(c, http.StatusAccepted, outcomeJSON(issue{
		Severity: "information", Code: codeInformation,
		Diagnostics: fmt.Sprintf("reindexing %d resource types; progress at %s/%s/%s", len(types), s.opts.BaseURL, opReindex, job.id),
	}))
}

// runReindex recomputes the index entries of every current resource of the
// job's types.
func (s *Server) runReindex(ctx context.Context, job *reindexJob) {
	defer job.done.Store(true)
	if len(job.types) == 0 {
		return
	}
	q := store.Query{Types: job.types, Count: 0, Total: true}
	res, err := s.store.Search(ctx, q)
	if err != nil {
		job.fail(s.log, err)
		return
	}
	job.total.Store(int64(res.Total))
	q = store.Query{Types: job.types, Count: reindexPageSize}
	for {
		res, err := s.store.Search(ctx, q)
		if err != nil {
			job.fail(s.log, err)
			return
		}
		for _, r := range res.Resources {
			if err := s.reindexOne(ctx, &r); err != nil {
				job.fail(s.log, err)
				return
			}
			job.processed.Add(1)
		}
		if !res.More {
			return
		}
		q = nextPage(q, res)
	}
}

// reindexOne recomputes one resource's entries. A resource written or
// deleted meanwhile is left as is: its write indexed it with the parameters
// of then.
func (s *Server) reindexOne(ctx context.Context, r *store.Resource) error {
	index, err := s.indexEntries(r.Type, r.Body)
	if err != nil {
		return fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
	}
	err = s.store.Reindex(ctx, r.Type, r.ID, r.VersionID, index)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (job *reindexJob) fail(log *slog.Logger, err error) {
	log.Error("fhir: reindex failed", "job", job.id, "error", err)
	job.mu.Lock()
	defer job.mu.Unlock()
	job.err = "internal error: see the server log"
}

// reindexStatus answers GET $reindex/[job].
func (s *Server) reindexStatus(c echo.Context) error {
	c.Set(InteractionKey, "operation")
	job, ok := s.reindex.get(c.Param("id"))
	if !ok {
		return newError(http.StatusNotFound, codeNotFound, "no reindex job %s", c.Param("id"))
	}
	status, code := "in-progress", http.StatusAccepted
	job.mu.Lock()
	failed := job.err
	job.mu.Unlock()
	switch {
	case failed != "":
		status, code = "failed", http.StatusOK
	case job.done.Load():
		status, code = "completed", http.StatusOK
	}
	params := parametersOut{ResourceType: "Parameters", Parameter: []parameterOut{
		{Name: "status", ValueCode: status},
		{Name: "processed", ValueInteger: ptr(job.processed.Load())},
		{Name: "total", ValueInteger: ptr(job.total.Load())},
	}}
	for _, t := range job.types {
		params.Parameter = append(params.Parameter, parameterOut{Name: "type", ValueCode: t})
	}
	if failed != "" {
		params.Parameter = append(params.Parameter, parameterOut{Name: "error", ValueString: failed})
	}
	c.Response().Header().Set("X-Progress", fmt.Sprintf("%d/%d", job.processed.Load(), job.total.Load()))
	body, err := encodeJSON(params)
	if err != nil {
		return fmt.Errorf("fhir: reindex status: %w", err)
	}
	return send(c, code, body)
}

type parametersOut struct {
	ResourceType string         `json:"resourceType"`
	Parameter    []parameterOut `json:"parameter"`
}

type parameterOut struct {
	Name         string `json:"name"`
	ValueCode    string `json:"valueCode,omitempty"`
	ValueString  string `json:"valueString,omitempty"`
	ValueInteger *int64 `json:"valueInteger,omitempty"`
}

func ptr[T any](v T) *T { return &v }
