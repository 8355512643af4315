package ops

import (
	"fmt"
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the HTTP server's Prometheus series, on a registry of their own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// latencyBuckets span sub-millisecond reads to multi-second transaction Bundles.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics() (*metrics, error) {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telehub_http_requests_total",
			Help: "HTTP requests served, by FHIR interaction and status code.",
		}, []string{"interaction", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "telehub_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by FHIR interaction and status code.",
			Buckets: latencyBuckets,
		}, []string{"interaction", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "telehub_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.latency, m.inFlight,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.registry.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (o *Ops) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(o.metrics.registry, promhttp.HandlerOpts{
		ErrorLog:      slogErrorLog{o.logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return echo.WrapHandler(h)
}

// slogErrorLog adapts the logger to promhttp's error log.
type slogErrorLog struct{ logger *slog.Logger }

func (l slogErrorLog) Println(v ...any) {
	l.logger.Error("metrics: gather failed", "error", fmt.Sprint(v...))
}
