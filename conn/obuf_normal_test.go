package conn

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// client-output-buffer-limit's normal class: a client whose pending
// replies pass the hard limit is disconnected (counted in INFO); small
// replies are not affected, and with the class at 0 0 0 (Redis's default)
// nobody is.
func TestNormalOutputBufferLimit(t *testing.T) {
	_, addr := startServer(t, 8)
	ctx := context.Background()
	admin := newClient2(t, addr, 2)
	if err := admin.Set(ctx, "v", strings.Repeat("x", 100<<10), 0).Err(); err != nil {
		t.Fatal(err)
	}
	pipelineGets := func() error {
		nc, br := dialBuffered(t, addr)
		io.WriteString(nc, strings.Repeat(resp("GET", "v"), 50))
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < 50; i++ {
			if _, err := readVal(br); err != nil {
				return err
			}
		}
		return nil
	}
	if err := pipelineGets(); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	if err := admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 1mb 0 0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := pipelineGets(); err == nil {
		t.Fatal("5 MB of pending replies under a 1 MB hard limit: not disconnected")
	}
	if n := infoLine(t, admin, "stats", "client_output_buffer_limit_disconnections"); n != "1" {
		t.Fatalf("client_output_buffer_limit_disconnections = %s", n)
	}
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("small replies: %v", err)
	}
	admin.ConfigSet(ctx, "client-output-buffer-limit", "normal 0 0 0")
	if err := pipelineGets(); err != nil {
		t.Fatalf("limit back to 0: %v", err)
	}
}
