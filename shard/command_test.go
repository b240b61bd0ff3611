package shard

import (
	"reflect"
	"testing"
)

// COMMAND INFO lists flags in Redis's order and, like Redis 7.0.15, never
// shows may_replicate (PUBLISH: pubsub loading stale fast).
func TestFlagNames(t *testing.T) {
	for _, tc := range []struct {
		f    Flag
		want []string
	}{
		{PubSub | Loading | Stale | Fast | MayReplicate, []string{"pubsub", "loading", "stale", "fast"}},
		{Admin | Stale | NoAsyncLoading, []string{"admin", "stale", "no_async_loading"}},
		{NoMandatoryKeys | NoAsyncLoading | NoMulti | AllowBusy | AllShards, []string{"no_mandatory_keys", "no_async_loading", "no_multi", "allow_busy"}},
	} {
		if got := tc.f.Names(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%b.Names() = %q, want %q", tc.f, got, tc.want)
		}
	}
}
