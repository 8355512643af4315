package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// client drives one target and collects its Result.
type client struct {
	target Target
	http   *http.Client
	mu     sync.Mutex
	res    *Result
}

// fail counts a failed request, keeping the first error for the report.
func (c *client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.Errors++
	if c.res.FirstError == "" {
		c.res.FirstError = err.Error()
	}
}

// do sends one request with the target's headers and returns the response
// when its status is 2xx; otherwise the error quotes the answer.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.target.URL+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range c.target.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w", c.target.Name, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s %s: %s: %s", c.target.Name, method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// percentile returns the p-th percentile (nearest rank) of d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
