package dicomweb

import (
	"bytes"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSTOW stores 64 KB instances, 10 per request, into studies of
// 100 instances (the shape DESIGN.md quotes Orthanc's figure for). The
// files are made outside the timer. Besides the wall time it reports the
// process CPU time per instance, which the load of a shared machine
// inflates less.
func BenchmarkSTOW(b *testing.B) {
	ev := newEnv(b, sqliteBackend())
	const perRequest = 10
	b.SetBytes(perRequest * 64 << 10)
	var spent time.Duration
	n := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var files [][]byte
		for range perRequest {
			study := fmt.Sprintf("11.%d", n/100)
			files = append(files, instance(b, spec{study: study, series: study + ".1", sop: fmt.Sprintf("%s.1.%d", study, n),
				rows: 256, cols: 128, instanceNo: fmt.Sprint(n % 100)}))
			n++
		}
		body, ct := multipartBody(files...)
		req, _ := http.NewRequest("POST", ev.url+"/dicom-web/studies", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer admin")
		c0 := cpuTime()
		b.StartTimer()
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("STOW: %v %v", err, resp.Status)
		}
		resp.Body.Close()
		spent += cpuTime() - c0
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "instances/s")
	b.ReportMetric(float64(spent.Microseconds())/1000/float64(n), "cpu-ms/instance")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQIDO searches 500 studies of 50 patients by patient name
// prefix, a study-level query answered through the index.
func BenchmarkQIDO(b *testing.B) {
	ev := newEnv(b, sqliteBackend())
	for batch := range 50 {
		var files [][]byte
		for i := range 10 {
			n := batch*10 + i
			files = append(files, instance(b, spec{study: fmt.Sprintf("12.%d", n), patientID: fmt.Sprintf("P%d", n%50),
				patientName: fmt.Sprintf("Name%02d^Given", n%50), date: fmt.Sprintf("2024%02d%02d", n%12+1, n%28+1)}))
		}
		if status, _ := ev.stow("admin", "/studies", files...); status != 200 {
			b.Fatalf("STOW: %d", status)
		}
	}
	c0 := cpuTime()
	for b.Loop() {
		if got := ev.getJSON("admin", "/dicom-web/studies?PatientName=Name1*&StudyDate=20240101-20240630"); len(got) == 0 {
			b.Fatal("no match")
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/query")
}
