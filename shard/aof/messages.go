package aof

import "strconv"

// The functions below return, word for word, the lines Redis 7.0.15 logs
// around AOF loading (src/aof.c), for the caller to log. name is the file
// name inside the AOF directory. Redis's test suite greps for several of
// them.

// MsgBadFormat is logged for ErrBadFormat; Redis then exits.
func MsgBadFormat(name string) string {
	return "Bad file format reading the append only file " + name +
		": make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
}

// MsgUnexpectedEOF is logged when a file is truncated and Redis does not
// repair it (aof-load-truncated no, or the truncate failed); Redis then
// exits.
func MsgUnexpectedEOF(name string) string {
	return "Unexpected end of file reading the append only file " + name +
		". You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. " +
		"2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
}

// TruncatedLog is what Redis logs, with aof-load-truncated yes, before and
// after it truncates a file to validUpTo: the two warnings before the
// truncate(2), and the "loaded anyway" line after it succeeded.
func TruncatedLog(name string, validUpTo int64) (before []string, after string) {
	return []string{
			"!!! Warning: short read while loading the AOF file " + name + "!!!",
			"!!! Truncating the AOF " + name + " at offset " + strconv.FormatInt(validUpTo, 10) + " !!!",
		},
		"AOF " + name + " loaded anyway because aof-load-truncated is enabled"
}

// MsgTruncateFailed is logged when the truncate(2) itself fails (err is
// strerror); Redis then logs MsgUnexpectedEOF and exits.
func MsgTruncateFailed(name, err string) string {
	return "Error truncating the AOF file " + name + ": " + err
}

// MsgRevertMulti is logged when a file ends inside MULTI
// (Result.RevertedMulti), before the truncation lines.
func MsgRevertMulti(name string) string {
	return "Revert incomplete MULTI/EXEC transaction in AOF file " + name
}

// MsgNotLastTruncated is logged when a file other than the last one of the
// manifest (base or incr) was truncated: fatal even with
// aof-load-truncated yes (that file has already been truncated on disk by
// then, as Redis does).
const MsgNotLastTruncated = "Fatal error: the truncated file is not the last file"

// MsgUnknownCommand is logged for a command Redis does not know; fatal.
func MsgUnknownCommand(cmd, name string) string {
	return "Unknown command '" + cmd + "' reading the append only file " + name
}

// MsgUnrecoverable is logged for a read error (and ErrNulAfterStar, where
// Redis prints whatever errno holds); fatal.
func MsgUnrecoverable(name, err string) string {
	return "Unrecoverable error reading the append only file " + name + ": " + err
}

// MsgLoaded is logged after a file loaded (or was truncated, being the
// last one); base tells "base" from "incr". seconds is formatted "%.3f".
func MsgLoaded(base bool, name string, seconds float64) string {
	kind := "incr"
	if base {
		kind = "base"
	}
	return "DB loaded from " + kind + " file " + name + ": " + strconv.FormatFloat(seconds, 'f', 3, 64) + " seconds"
}

// MsgReadingRDBBase is logged when a base file starts with an RDB
// (IsRDB); MsgReadingRDBPreamble when it is the old-style single
// appendonly.aof (its name equals appendfilename).
const (
	MsgReadingRDBBase     = "Reading RDB base file on AOF loading..."
	MsgReadingRDBPreamble = "Reading RDB preamble from AOF file..."
	MsgReadingAOFTail     = "Reading the remaining AOF tail..."
)

// MsgRDBBaseError is logged when the RDB part fails to load; Redis then
// treats it as a read error: a short read counts as a truncated file
// (truncated to ValidUpTo, which is 0 there, under aof-load-truncated
// yes), anything else is fatal.
func MsgRDBBaseError(name string, oldStyle bool) string {
	if oldStyle {
		return "Error reading the RDB preamble of the AOF file " + name + ", AOF loading aborted"
	}
	return "Error reading the RDB base file " + name + ", AOF loading aborted"
}
