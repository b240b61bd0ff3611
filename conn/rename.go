package conn

import "strings"

// renamed is set once a rename-command ran; only then can a name be
// longer than lookup's buffer.
var renamed bool

// RenameCommand renames a command for the whole process, as redis.conf's
// rename-command directive does: the command answers to the new name only,
// or to none when to is empty. It must run before any Server starts (the
// command table is shared and read without locks). It returns "" or the
// reason Redis gives for a bad directive.
func RenameCommand(from, to string) string {
	renamed = true
	key := strings.ToLower(from)
	e := commands[key]
	if e == nil {
		return "No such command in rename-command"
	}
	to = strings.ToLower(to)
	if _, taken := commands[to]; taken && to != key {
		return "Target command name already exists" // the table is left as it was
	}
	delete(commands, key)
	if to != "" {
		commands[to] = e
	}
	return ""
}
