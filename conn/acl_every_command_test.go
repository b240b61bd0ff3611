package conn

import (
	"strings"
	"testing"
)

func TestEveryCommandHasAnACLEntry(t *testing.T) {
	for name, e := range commands {
		call := aclCall{e: e, spec: e.spec, args: [][]byte{[]byte(name)}}
		if !aclResolve(&call) {
			t.Errorf("%s: no ACL command", name)
		}
		for _, s := range e.spec.Subcommands {
			call := aclCall{e: e, spec: e.spec, args: [][]byte{[]byte(name), []byte(s.Name[strings.IndexByte(s.Name, '|')+1:])}}
			if !aclResolve(&call) {
				t.Errorf("%s %s: no ACL command", name, s.Name)
			}
		}
	}
}
