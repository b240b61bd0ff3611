package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

// sample is one redis-benchmark run against one server.
type sample struct {
	rps   float64 // requests per second, as redis-benchmark reports it
	cpuUs float64 // server CPU time per request, in microseconds
}

// benchOnce runs redis-benchmark for one test against s and measures the
// server's CPU time across the run.
func benchOnce(ctx context.Context, bin program, s *server, test string, clients, pipeline, size, requests int) (sample, error) {
	return runBenchmark(ctx, bin, s, requests, test, "-t", test,
		"-c", strconv.Itoa(clients), "-P", strconv.Itoa(pipeline), "-d", strconv.Itoa(size))
}

// runBenchmark runs redis-benchmark -n requests with the given arguments
// against s and returns its ops/s (from the CSV row named label) and the
// server's CPU time per request.
func runBenchmark(ctx context.Context, bin program, s *server, requests int, label string, args ...string) (sample, error) {
	// Stop redis-benchmark if the server dies: it would retry forever.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	before, err := cpuTicks(s.pid())
	if err != nil {
		return sample{}, err
	}
	all := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-n", strconv.Itoa(requests), "-q", "--csv"}, args...)
	cmd := bin.command(ctx, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	after, err := cpuTicks(s.pid())
	if exitErr := s.exited(); exitErr != nil {
		return sample{}, exitErr
	}
	if runErr != nil {
		return sample{}, fmt.Errorf("redis-benchmark %s against %s: %v\n%s%s",
			strings.Join(args, " "), s.name, runErr, stdout.Bytes(), stderr.Bytes())
	}
	if err != nil {
		return sample{}, err
	}
	rps, err := parseRPS(stdout.Bytes(), label)
	if err != nil {
		return sample{}, fmt.Errorf("redis-benchmark %s against %s: %v\noutput:\n%s%s",
			strings.Join(args, " "), s.name, err, stdout.Bytes(), stderr.Bytes())
	}
	cpuUs := float64(after-before) * 1e6 / clockTicks / float64(requests)
	return sample{rps: rps, cpuUs: cpuUs}, nil
}

// parseRPS reads redis-benchmark's --csv output and returns the "rps"
// column of the row for test. Rows are named like "SET", "GET" or
// "MSET (10 keys)"; a lone row is taken whatever its name.
func parseRPS(out []byte, test string) (float64, error) {
	r := csv.NewReader(bytes.NewReader(out))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return 0, err
	}
	if len(recs) < 2 {
		return 0, fmt.Errorf("no CSV rows")
	}
	testCol, rpsCol := -1, -1
	for i, h := range recs[0] {
		switch h {
		case "test":
			testCol = i
		case "rps":
			rpsCol = i
		}
	}
	if testCol < 0 || rpsCol < 0 {
		return 0, fmt.Errorf("CSV header %q lacks \"test\" or \"rps\"", recs[0])
	}
	rows := recs[1:]
	for _, row := range rows {
		if len(row) <= max(testCol, rpsCol) {
			continue
		}
		name := row[testCol]
		if strings.EqualFold(name, test) || len(rows) == 1 ||
			strings.HasPrefix(strings.ToUpper(name), strings.ToUpper(test)+" ") {
			return strconv.ParseFloat(row[rpsCol], 64)
		}
	}
	return 0, fmt.Errorf("no CSV row for test %q", test)
}
