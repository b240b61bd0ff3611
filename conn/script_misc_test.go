package conn

import (
	"context"
	"testing"
)

// A script's cjson settings do not outlive it: interpreters are pooled,
// so a setting kept would show in whichever later script got the same
// interpreter.
func TestCjsonSettingsResetAfterScript(t *testing.T) {
	_, addr := startServer(t, 8)
	rdb := newClient2(t, addr, 2)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := rdb.Eval(ctx, "cjson.encode_max_depth(1) cjson.encode_invalid_numbers(true) return 1", nil).Err(); err != nil {
			t.Fatal(err)
		}
		v, err := rdb.Eval(ctx, "return {cjson.encode_max_depth(), cjson.encode({{}}), (pcall(cjson.encode, 0/0)) and 1 or 0}", nil).Result()
		if err != nil || len(v.([]any)) != 3 || v.([]any)[0] != int64(1000) || v.([]any)[1] != "[{}]" || v.([]any)[2] != int64(0) {
			t.Fatalf("settings after a script changed them: %v, %v", v, err)
		}
	}
}
