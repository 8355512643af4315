package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServerError is a Bundle the server rejected: the HTTP status (of the
// whole request, or of the first failed entry of a batch) and the
// OperationOutcome it answered with, if any.
type ServerError struct {
	Status  int
	Outcome []byte
}

func (e *ServerError) Error() string {
	msg := fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	if summary := outcomeSummary(e.Outcome); summary != "" {
		msg += ": " + summary
	}
	return msg
}

// retryable reports whether a status may succeed if sent again.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// post sends one Bundle of the given kind ("transaction" or "batch") and
// retries 429, 5xx and network errors with exponential back-off. A
// transaction the server says it does not support returns errRefused.
func (l *loader) post(ctx context.Context, b bundle, kind string) error {
	body := l.body(b, kind)
	wait := l.cfg.RetryWait
	for attempt := 1; ; attempt++ {
		status, retryAfter, resp, err := l.do(ctx, body)
		if err == nil {
			err = l.check(kind, status, resp)
		}
		if err == nil || errors.Is(err, errRefused) || !canRetry(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= l.cfg.Retries {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		delay := wait
		if retryAfter > 0 {
			delay = retryAfter
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// canRetry reports whether err is worth another attempt: a retryable
// status, or a failure of the connection rather than a refusal.
func canRetry(err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return retryable(se.Status)
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// check interprets the answer to a Bundle.
func (l *loader) check(kind string, status int, resp []byte) error {
	if status >= 200 && status < 300 {
		if kind == "batch" {
			return batchFailure(resp)
		}
		return nil
	}
	if kind == "transaction" && refusesTransactions(status, resp) {
		return errRefused
	}
	return &ServerError{Status: status, Outcome: resp}
}

func (l *loader) do(ctx context.Context, body []byte) (status int, retryAfter time.Duration, resp []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	// Only failures are read; a minimal answer saves the server the work of
	// echoing every resource back.
	req.Header.Set("Prefer", "return=minimal")
	if l.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+l.cfg.Token)
	}
	res, err := l.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer res.Body.Close()
	resp, err = io.ReadAll(res.Body)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if seconds, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && seconds > 0 {
		retryAfter = time.Duration(min(seconds, 60)) * time.Second
	}
	return res.StatusCode, retryAfter, resp, nil
}

// operationOutcome is the part of an OperationOutcome the loader reports.
type operationOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity    string `json:"severity"`
		Code        string `json:"code"`
		Diagnostics string `json:"diagnostics"`
		Details     struct {
			Text string `json:"text"`
		} `json:"details"`
	} `json:"issue"`
}

// refusesTransactions recognises a server that cannot process transaction
// Bundles: 501, or a 4xx whose OperationOutcome says not-supported.
func refusesTransactions(status int, resp []byte) bool {
	if status == http.StatusNotImplemented {
		return true
	}
	if status < 400 || status >= 500 {
		return false
	}
	var oo operationOutcome
	if json.Unmarshal(resp, &oo) != nil {
		return false
	}
	for _, issue := range oo.Issue {
		if issue.Code == "not-supported" {
			return true
		}
	}
	return false
}

// batchFailure returns the first failed entry of a batch-response: a
// ServerError with its status and outcome.
func batchFailure(resp []byte) error {
	var answer struct {
		Entry []struct {
			Response struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(resp, &answer); err != nil {
		return fmt.Errorf("unreadable batch-response: %w", err)
	}
	var retry *ServerError
	for i, e := range answer.Entry {
		code, _, _ := strings.Cut(e.Response.Status, " ")
		status, err := strconv.Atoi(code)
		if err != nil {
			return fmt.Errorf("batch-response entry %d: status %q", i, e.Response.Status)
		}
		if status < 400 {
			continue
		}
		se := &ServerError{Status: status, Outcome: e.Response.Outcome}
		if !retryable(status) {
			return fmt.Errorf("entry %d: %w", i, se)
		}
		if retry == nil {
			retry = se
		}
	}
	if retry != nil {
		// PUT is idempotent: the whole batch is sent again.
		return retry
	}
	return nil
}

// outcomeSummary renders an OperationOutcome's issues on one line; a body
// that is not one is quoted, shortened.
func outcomeSummary(body []byte) string {
	var oo operationOutcome
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		text := strings.TrimSpace(string(body))
		if len(text) > 300 {
			text = text[:300] + "…"
		}
		return text
	}
	var parts []string
	for _, issue := range oo.Issue {
		text := issue.Diagnostics
		if text == "" {
			text = issue.Details.Text
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", issue.Severity, issue.Code, text))
	}
	return strings.Join(parts, "; ")
}
