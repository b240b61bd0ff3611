package conn

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Helpers for expected argument trees.
func sxVal(name, typ string) *docArg { return &docArg{Name: name, Type: typ, Key: -1} }
func sxTok(name, tok string) *docArg {
	return &docArg{Name: name, Type: "pure-token", Token: tok, Key: -1}
}
func sxKey(name string, i int) *docArg      { return &docArg{Name: name, Type: "key", Key: i} }
func sxToken(a *docArg, tok string) *docArg { a.Token = tok; return a }
func sxOpt(a *docArg) *docArg               { a.Optional = true; return a }
func sxMulti(a *docArg) *docArg             { a.Multiple = true; return a }
func sxGroup(name, typ string, args ...*docArg) *docArg {
	return &docArg{Name: name, Type: typ, Key: -1, Args: args}
}

// docString renders arguments compactly for failure messages and the
// shorter cases: name:type, then =TOKEN, #key index, ? optional,
// + multiple, * multiple_token, and (children).
func sxString(args []*docArg) string {
	parts := make([]string, len(args))
	for i, a := range args {
		s := a.Name + ":" + a.Type
		if a.Token != "" {
			s += "=" + a.Token
		}
		if a.Key >= 0 {
			s += "#" + strconv.Itoa(a.Key)
		}
		if a.Optional {
			s += "?"
		}
		if a.Multiple {
			s += "+"
		}
		if a.MultipleToken {
			s += "*"
		}
		if len(a.Args) > 0 {
			s += "(" + sxString(a.Args) + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, " ")
}

// The three cases follow `COMMAND DOCS set|hello|mget` of Redis 7.0.15,
// leaving out the per-argument "since" that a syntax string cannot carry.
func TestParseSyntaxLikeRedis(t *testing.T) {
	cases := []struct {
		cmd, syntax string
		want        []*docArg
	}{
		{"set", "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
			[]*docArg{
				sxKey("key", 0),
				sxVal("value", "string"),
				sxOpt(sxGroup("condition", "oneof", sxTok("nx", "NX"), sxTok("xx", "XX"))),
				sxOpt(sxTok("get", "GET")),
				sxOpt(sxGroup("expiration", "oneof",
					sxToken(sxVal("seconds", "integer"), "EX"),
					sxToken(sxVal("milliseconds", "integer"), "PX"),
					sxToken(sxVal("unix-time-seconds", "unix-time"), "EXAT"),
					sxToken(sxVal("unix-time-milliseconds", "unix-time"), "PXAT"),
					sxTok("keepttl", "KEEPTTL"))),
			}},
		{"hello", "[protover [AUTH username password] [SETNAME clientname]]",
			[]*docArg{
				sxOpt(sxGroup("arguments", "block",
					sxVal("protover", "integer"),
					sxOpt(sxToken(sxGroup("username_password", "block",
						sxVal("username", "string"), sxVal("password", "string")), "AUTH")),
					sxOpt(sxToken(sxVal("clientname", "string"), "SETNAME")))),
			}},
		{"mget", "key [key ...]",
			[]*docArg{sxMulti(sxKey("key", 0))}},
	}
	for _, tc := range cases {
		got, err := parseSyntax(tc.syntax)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q\n got: %s\nwant: %s", tc.cmd, tc.syntax, sxString(got), sxString(tc.want))
		}
	}
}

func TestParseSyntaxShapes(t *testing.T) {
	cases := []struct{ syntax, want string }{
		{"", ""},
		{"key", "key:key#0"},
		{"[ASYNC|SYNC]", "async:oneof?(async:pure-token=ASYNC sync:pure-token=SYNC)"},
		{"key value [key value ...]", "key_value:block+(key:key#0 value:string)"},
		{"key newkey", "key:key#0 newkey:key#1"},
		{"[message]", "message:string?"},
		{"[GET pattern [GET pattern ...]]", "pattern:pattern=GET?+*"},
		{"[COUNT count [ANY]]", "options:block?(count:integer=COUNT any:pure-token=ANY?)"},
		{"[FULL [COUNT count]]", "full:block=FULL?(count:integer=COUNT?)"}, // XINFO STREAM's name
		{"[LIMIT offset count]", "offset_count:block=LIMIT?(offset:integer count:integer)"},
		{"key BEFORE|AFTER pivot element",
			"key:key#0 where:oneof(before:pure-token=BEFORE after:pure-token=AFTER) pivot:string element:string"},
		{"source destination LEFT|RIGHT LEFT|RIGHT",
			"source:key#0 destination:key#1 where:oneof(left:pure-token=LEFT right:pure-token=RIGHT) where:oneof(left:pure-token=LEFT right:pure-token=RIGHT)"},
		{"[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
			"filterby:oneof=FILTERBY?(module-name:string=MODULE category:string=ACLCAT pattern:pattern=PATTERN)"},
		{"[TYPE <NORMAL|MASTER>]", "type:oneof=TYPE?(normal:pure-token=NORMAL master:pure-token=MASTER)"},
		{"[AGGREGATE SUM|MIN|MAX]", "aggregate:oneof=AGGREGATE?(sum:pure-token=SUM min:pure-token=MIN max:pure-token=MAX)"},
		{"[MAXLEN|MINID [=|~] threshold]",
			"arguments:block?(strategy:oneof(maxlen:pure-token=MAXLEN minid:pure-token=MINID) operator:oneof?(equal:pure-token== approximately:pure-token=~) threshold:string)"},
		{"LIB-NAME libname|LIB-VER libver", "libname_libver:oneof(libname:string=LIB-NAME libver:string=LIB-VER)"},
		{"key [NX|XX|GT|LT] seconds", "key:key#0 condition:oneof?(nx:pure-token=NX xx:pure-token=XX gt:pure-token=GT lt:pure-token=LT) seconds:integer"},
		{"numkeys key [key ...] [WEIGHTS weight [weight ...]]",
			"numkeys:integer key:key#0+ weight:integer=WEIGHTS?+"},
		{"cursor [MATCH pattern] [COUNT count] [TYPE type]",
			"cursor:integer pattern:pattern=MATCH? count:integer=COUNT? type:string=TYPE?"},
		{"key [CH] [INCR] score member [score member ...]",
			"key:key#0 change:pure-token=CH? increment:pure-token=INCR? score_member:block+(score:double member:string)"},
	}
	for _, tc := range cases {
		got, err := parseSyntax(tc.syntax)
		if err != nil {
			t.Errorf("%q: %v", tc.syntax, err)
			continue
		}
		if s := sxString(got); s != tc.want {
			t.Errorf("%q\n got: %s\nwant: %s", tc.syntax, s, tc.want)
		}
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	for _, s := range []string{"[a", "a]", "a |", "| a", "[]", "<a]", "[a||b]", "a [b|]"} {
		if args, err := parseSyntax(s); err == nil {
			t.Errorf("%q parsed as %s, want an error", s, sxString(args))
		}
	}
}

// Every syntax string in the command table must parse, or COMMAND DOCS
// would silently leave its arguments out.
func TestTableSyntaxParses(t *testing.T) {
	var check func(name, syntax string)
	check = func(name, syntax string) {
		if _, err := parseSyntax(syntax); err != nil {
			t.Errorf("%s: syntax %q: %v", name, syntax, err)
		}
	}
	for _, e := range allEntries() {
		check(e.spec.Name, e.spec.Syntax)
		for _, s := range e.spec.Subcommands {
			check(s.Name, s.Syntax)
		}
	}
}
