package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Setters for parameters whose syntax is not a plain bool/number/enum/string.

func setSave(_ *param, raw string, c *ctx) (value, string) {
	args := splitArgs(raw)
	if len(args) == 1 && cstr(args[0]) == "" {
		args = nil // a lone empty C string means "no save points"
	}
	if len(args)%2 != 0 {
		return value{}, "Invalid save parameters"
	}
	parts := make([]string, 0, len(args))
	for j, a := range args {
		n, ok := strtollFull(a)
		if !ok || (j%2 == 0 && n < 1) || (j%2 == 1 && n < 0) {
			return value{}, "Invalid save parameters"
		}
		if j%2 == 1 {
			n = int64(int32(n)) // "changes" is a C int
		}
		parts = append(parts, strconv.FormatInt(n, 10))
	}
	s := strings.Join(parts, " ")
	if c.loading {
		// In a config file the first "save" line replaces the default, later
		// ones append, and an empty one clears the list.
		if prev := c.get("save").s; c.saveSeen && s != "" && prev != "" {
			s = prev + " " + s
		}
		c.saveSeen = true
	}
	return value{s: s}, ""
}

const defaultOBufLimits = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"

var obufClasses = [3]string{"normal", "slave", "pubsub"}

func obufClass(name string) int {
	switch strings.ToLower(cstr(name)) {
	case "normal":
		return 0
	case "slave", "replica":
		return 1
	case "pubsub":
		return 2
	}
	return -1 // includes "master", which cannot be limited
}

// setOBufLimits updates only the classes named in raw; the others keep their
// current limits.
func setOBufLimits(p *param, raw string, c *ctx) (value, string) {
	args := splitArgs(raw)
	if len(args)%4 != 0 {
		return value{}, "Wrong number of arguments in buffer limit configuration."
	}
	lim := [3][3]string{}
	cur := strings.Fields(c.get(p.name).s)
	for i := range obufClasses {
		for k := range 3 {
			lim[i][k] = "0"
			if len(cur) == 12 {
				lim[i][k] = cur[i*4+1+k]
			}
		}
	}
	for j := 0; j < len(args); j += 4 {
		class := obufClass(args[j])
		if class < 0 {
			return value{}, "Invalid client class specified in buffer limit configuration."
		}
		hard, ok1 := memToULL(args[j+1])
		soft, ok2 := memToULL(args[j+2])
		secs, ok3 := strtollFull(args[j+3])
		secs = int64(int32(secs)) // soft_seconds is a C int
		if !ok1 || !ok2 || !ok3 || secs < 0 {
			return value{}, "Error in hard, soft or soft_seconds setting in buffer limit configuration."
		}
		lim[class] = [3]string{
			strconv.FormatUint(hard, 10),
			strconv.FormatUint(soft, 10),
			strconv.FormatInt(secs, 10),
		}
	}
	parts := make([]string, 0, 12)
	for i, name := range obufClasses {
		parts = append(parts, name, lim[i][0], lim[i][1], lim[i][2])
	}
	return value{s: strings.Join(parts, " ")}, ""
}

func setOOMValues(_ *param, raw string, _ *ctx) (value, string) {
	args := splitArgs(raw)
	if len(args) != 3 {
		return value{}, "wrong number of arguments"
	}
	parts := make([]string, 3)
	for i, a := range args {
		n, ok := strtollFull(a)
		if !ok || n < -2000 || n > 2000 {
			return value{}, "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
		}
		parts[i] = strconv.FormatInt(n, 10)
	}
	return value{s: strings.Join(parts, " ")}, ""
}

// Keyspace notification classes, using Redis's bit values.
const (
	nKeyspace = 1 << iota // K
	nKeyevent             // E
	nGeneric              // g
	nString               // $
	nList                 // l
	nSet                  // s
	nHash                 // h
	nZset                 // z
	nExpired              // x
	nEvicted              // e
	nStream               // t
	nKeyMiss              // m
	nModule               // d
	nNew                  // n
	nAll      = nGeneric | nString | nList | nSet | nHash | nZset | nExpired | nEvicted | nStream | nModule
)

var notifyChars = map[byte]int64{
	'A': nAll, 'g': nGeneric, '$': nString, 'l': nList, 's': nSet,
	'h': nHash, 'z': nZset, 'x': nExpired, 'e': nEvicted, 'K': nKeyspace,
	'E': nKeyevent, 't': nStream, 'm': nKeyMiss, 'd': nModule, 'n': nNew,
}

// notifyOrder is the order Redis prints classes in when not all are set.
var notifyOrder = []struct {
	c byte
	f int64
}{
	{'g', nGeneric}, {'$', nString}, {'l', nList}, {'s', nSet}, {'h', nHash},
	{'z', nZset}, {'x', nExpired}, {'e', nEvicted}, {'t', nStream},
	{'d', nModule}, {'n', nNew},
}

func setNotify(_ *param, raw string, _ *ctx) (value, string) {
	s := cstr(raw)
	var flags int64
	for i := 0; i < len(s); i++ {
		f, ok := notifyChars[s[i]]
		if !ok {
			return value{}, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
		}
		flags |= f
	}
	return value{formatNotify(flags), flags}, ""
}

func formatNotify(flags int64) string {
	var b []byte
	if flags&nAll == nAll {
		b = append(b, 'A') // "A" also hides 'n'
	} else {
		for _, o := range notifyOrder {
			if flags&o.f != 0 {
				b = append(b, o.c)
			}
		}
	}
	if flags&nKeyspace != 0 {
		b = append(b, 'K')
	}
	if flags&nKeyevent != 0 {
		b = append(b, 'E')
	}
	if flags&nKeyMiss != 0 {
		b = append(b, 'm')
	}
	return string(b)
}

func setBind(_ *param, raw string, _ *ctx) (value, string) {
	args := splitArgs(raw)
	if len(args) > 16 {
		return value{}, "Too many bind addresses specified."
	}
	for i, a := range args {
		args[i] = cstr(a)
	}
	return value{s: strings.Join(args, " ")}, ""
}

func setReplicaOf(_ *param, raw string, _ *ctx) (value, string) {
	args := splitArgs(raw)
	if len(args) != 2 {
		return value{}, "wrong number of arguments"
	}
	if strings.EqualFold(cstr(args[0]), "no") && strings.EqualFold(cstr(args[1]), "one") {
		return value{}, ""
	}
	port, ok := strtollFull(args[1])
	if !ok || port < 0 || port > 65535 {
		return value{}, "Invalid master port"
	}
	return value{s: cstr(args[0]) + " " + strconv.FormatInt(port, 10)}, ""
}

func setPercentiles(_ *param, raw string, _ *ctx) (value, string) {
	args := splitArgs(raw)
	parts := make([]string, len(args))
	for i, a := range args {
		f, ok := string2d(a)
		if !ok {
			return value{}, "Invalid latency-tracking-info-percentiles parameters"
		}
		if f > 100 || f < 0 {
			return value{}, "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
		}
		parts[i] = formatPercentile(f)
	}
	return value{s: strings.Join(parts, " ")}, ""
}

// setDir validates a working directory the way chdir(2) would, relative to
// the current "dir", and stores its resolved absolute path. It does not
// change the process's working directory; the server may do so in OnChange.
func setDir(p *param, raw string, c *ctx) (value, string) {
	v := cstr(raw)
	if v == "" {
		return value{}, errnoText(syscall.ENOENT)
	}
	if !filepath.IsAbs(v) {
		base := c.get(p.name).s
		if base == "" {
			wd, err := os.Getwd()
			if err != nil {
				return value{}, errnoText(err)
			}
			base = wd
		}
		v = filepath.Join(base, v)
	}
	fi, err := os.Stat(v)
	if err != nil {
		return value{}, errnoText(err)
	}
	if !fi.IsDir() {
		return value{}, errnoText(syscall.ENOTDIR)
	}
	if v, err = filepath.EvalSymlinks(v); err != nil {
		return value{}, errnoText(err)
	}
	return value{s: v}, ""
}

// errnoText renders err like C's strerror.
func errnoText(err error) string {
	var no syscall.Errno
	if !errors.As(err, &no) {
		return err.Error()
	}
	switch no {
	case syscall.ENOENT:
		return "No such file or directory"
	case syscall.ENOTDIR:
		return "Not a directory"
	case syscall.EACCES:
		return "Permission denied"
	case syscall.ELOOP:
		return "Too many levels of symbolic links"
	case syscall.ENAMETOOLONG:
		return "File name too long"
	}
	s := no.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}
