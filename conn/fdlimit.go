package conn

import (
	"errors"
	"strconv"
)

// reservedFDs is how many descriptors maxclients leaves for everything but
// clients (listeners, the log, the runtime's poller...), as Redis's
// CONFIG_MIN_RESERVED_FDS does.
const reservedFDs = 32

// fitMaxClients returns the number of clients, at most want, that the
// process's open-file limit leaves room for, raising the limit first when
// it is too low and may be raised. Like Redis's adjustOpenFilesLimit it
// logs when it has to settle for less.
//
// On Linux the Go runtime has already raised the soft limit to the hard
// one before main runs, so the soft limit read here is usually the hard
// limit, and only a process allowed to raise the hard limit
// (CAP_SYS_RESOURCE) can get more.
func (s *Server) fitMaxClients(want int64) int64 {
	need := uint64(want) + reservedFDs
	cur, hard, err := getNofile()
	if err != nil {
		got := min(want, 1024-reservedFDs)
		s.log.Warn("cannot read the open-file limit; assuming 1024", "err", err, "maxclients", got)
		return got
	}
	if cur >= need {
		return want
	}
	err = setNofile(need, max(hard, need))
	if err == nil {
		s.log.Info("raised the open-file limit", "limit", need, "was", cur)
		return want
	}
	if cur < hard && setNofile(hard, hard) == nil {
		cur = hard
	}
	if cur <= reservedFDs {
		s.log.Error("the open-file limit is too low to serve any client; raise ulimit -n",
			"open_file_limit", cur, "needed", need)
		return 1
	}
	got := int64(cur - reservedFDs)
	s.log.Warn("maxclients reduced to fit the open-file limit; raise ulimit -n for more",
		"requested", want, "needed", need, "open_file_limit", cur, "raise_err", err, "maxclients", got)
	return got
}

// limitMaxClients caps maxclients by the open-file limit now, and makes
// CONFIG SET maxclients fail as Redis's does when the limit cannot grow
// enough ("try with N"), keeping the old value.
func (s *Server) limitMaxClients() {
	want := s.cfg.Int("maxclients")
	if got := s.fitMaxClients(want); got != want {
		s.cfg.Load("maxclients", strconv.FormatInt(got, 10))
	}
	s.cfg.OnApply("maxclients", func(v string) error {
		want, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil // validated already
		}
		if got := s.fitMaxClients(want); got < want {
			return errors.New("The operating system is not able to handle the specified number of clients, try with " + strconv.FormatInt(got, 10))
		}
		return nil
	})
}
