package conn

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/valkyrie-kv/valkyrie/conn/pubsub"
	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// AUTH and ACL: the commands. The users and checks are in acl.go.

const aclSubFlags = shard.NoScript | shard.Loading | shard.Stale

var aclSubs, aclSpecs = newSubcommands("acl",
	aclSub(shard.Spec{Name: "cat", Arity: -2, Flags: aclSubFlags, Since: "6.0.0",
		Summary:    "Lists the ACL categories, or the commands inside a category.",
		Complexity: "O(1) since the categories and commands are a fixed set.", Syntax: "[category]"}, cmdACLCat),
	aclSub(shard.Spec{Name: "deluser", Arity: -3, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Deletes ACL users, and terminates their connections.", Complexity: "O(1) amortized time considering the typical user.",
		Syntax: "username [username ...]"}, cmdACLDelUser),
	aclSub(shard.Spec{Name: "dryrun", Arity: -4, Flags: shard.Admin | aclSubFlags, Since: "7.0.0",
		Summary: "Simulates the execution of a command by a user, without executing the command.", Complexity: "O(1).",
		Syntax: "username command [arg [arg ...]]"}, cmdACLDryRun),
	aclSub(shard.Spec{Name: "genpass", Arity: -2, Flags: aclSubFlags, Since: "6.0.0",
		Summary: "Generates a pseudorandom, secure password that can be used to identify ACL users.", Complexity: "O(1)",
		Syntax: "[bits]"}, cmdACLGenPass),
	aclSub(shard.Spec{Name: "getuser", Arity: 3, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Lists the ACL rules of a user.", Complexity: "O(N). Where N is the number of password, command and pattern rules that the user has.",
		Syntax: "username"}, cmdACLGetUser),
	aclSub(shard.Spec{Name: "help", Arity: 2, Flags: shard.Loading | shard.Stale, Since: "6.0.0",
		Summary: "Returns helpful text about the different subcommands.", Complexity: "O(1)"}, cmdACLHelp),
	aclSub(shard.Spec{Name: "list", Arity: 2, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Dumps the effective rules in ACL file format.", Complexity: "O(N). Where N is the number of configured users."}, cmdACLList),
	aclSub(shard.Spec{Name: "load", Arity: 2, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Reloads the rules from the configured ACL file.", Complexity: "O(N). Where N is the number of configured users."}, cmdACLLoad),
	aclSub(shard.Spec{Name: "log", Arity: -2, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Lists recent security events generated due to ACL rules.", Complexity: "O(N) with N being the number of entries shown.",
		Syntax: "[count|RESET]"}, cmdACLLog),
	aclSub(shard.Spec{Name: "save", Arity: 2, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Saves the effective ACL rules in the configured ACL file.", Complexity: "O(N). Where N is the number of configured users."}, cmdACLSave),
	aclSub(shard.Spec{Name: "setuser", Arity: -3, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Creates and modifies an ACL user and its rules.", Complexity: "O(N). Where N is the number of rules provided.",
		Syntax: "username [rule [rule ...]]"}, cmdACLSetUser),
	aclSub(shard.Spec{Name: "users", Arity: 2, Flags: shard.Admin | aclSubFlags, Since: "6.0.0",
		Summary: "Lists all ACL users.", Complexity: "O(N). Where N is the number of configured users."}, cmdACLUsers),
	aclSub(shard.Spec{Name: "whoami", Arity: 2, Flags: aclSubFlags, Since: "6.0.0",
		Summary: "Returns the authenticated username of the current connection.", Complexity: "O(1)"}, cmdACLWhoAmI),
)

func aclSub(spec shard.Spec, run func(c *client, args [][]byte)) *subcommand {
	spec.Group = "server"
	return &subcommand{Spec: spec, run: run}
}

func init() {
	registerLocal(
		&localCommand{Spec: shard.Spec{Name: "auth", Arity: -2,
			Flags: shard.NoScript | shard.Loading | shard.Stale | shard.Fast | shard.NoAuth | shard.AllowBusy,
			Group: "connection", Since: "1.0.0", Summary: "Authenticates the connection.",
			Complexity: "O(N) where N is the number of passwords defined for the user",
			Syntax:     "[username] password", ACL: []string{"connection"}}, run: cmdAuth},
		&localCommand{Spec: shard.Spec{Name: "acl", Arity: -2, Group: "server", Since: "6.0.0",
			Summary: "A container for Access List Control commands.", Complexity: "Depends on subcommand.",
			Subcommands: aclSpecs}, run: aclSubs.dispatch},
	)
}

const errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."

func cmdAuth(c *client, args [][]byte) {
	if len(args) > 3 {
		c.replyError(shard.ErrSyntax)
		return
	}
	r := c.srv.acl
	user, pass := []byte("default"), args[1]
	if len(args) == 2 {
		if r.def.state().nopass {
			c.replyError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
	} else {
		user, pass = args[1], args[2]
	}
	if !c.authenticate(user, pass, args) {
		c.replyError(errWrongPass)
		return
	}
	c.replyOK()
}

// authenticate logs the connection in as user, or logs the failure.
// args is the command (AUTH or HELLO), whose name as sent ACL LOG shows.
func (c *client) authenticate(user, pass []byte, args [][]byte) bool {
	u := c.srv.acl.authenticate(user, pass)
	if u == nil {
		c.aclLog(aclDeniedAuth, string(user), string(args[0]), args)
		return false
	}
	c.setUser(u, true)
	return true
}

// setUser changes the connection's user.
func (c *client) setUser(u *aclUser, authed bool) {
	c.user, c.authed = u, authed
	c.info.mu.Lock()
	c.info.user = u
	c.info.mu.Unlock()
}

// defaultAuth puts a new or RESET connection on the default user,
// authenticated when that one needs no password.
func (c *client) defaultAuth() {
	r := c.srv.acl
	st := r.def.state()
	c.setUser(r.def, st.nopass && st.on)
}

// aclContext names where a denial happened, for ACL LOG.
func (c *client) aclContext() string {
	switch {
	case c.inScript:
		return "lua"
	case c.tx.on:
		return "multi"
	}
	return "toplevel"
}

// aclLog adds an ACL LOG entry for this connection.
// args is the command being run, for the client info (nil: none).
func (c *client) aclLog(reason int, username, object string, args [][]byte) {
	if username == "" {
		username = c.user.name
	}
	e := &aclLogEntry{reason: reason, context: c.aclContext(), object: object, username: username, ctime: time.Now()}
	e.cinfo = string(c.appendClientLine(nil, c, e.ctime, args))
	c.srv.acl.addLog(e)
}

// aclDenied runs the checks Redis makes before a command: authentication,
// then the user's permissions. It replies and returns true when the
// command must not run. Only connections that are not authenticated or
// whose user is restricted come here (see executeOne).
func (c *client) aclDenied(e *entry, args [][]byte) bool {
	if !e.arityOK(len(args)) {
		return false // the arity error comes first
	}
	if !c.authed && c.srv.acl.authRequired() {
		if e.spec.Flags&shard.NoAuth != 0 {
			return false
		}
		c.last = e.spec
		c.reject(e, args, "NOAUTH Authentication required.")
		return true
	}
	if c.tx.on && e.spec.Flags&shard.NoMulti != 0 {
		return false // not allowed inside a transaction comes first
	}
	st := c.user.state()
	if st.free {
		return false
	}
	msg := c.aclCheck(st, e, args)
	if msg == "" {
		return false
	}
	c.last = e.spec
	c.reject(e, args, msg)
	return true
}

// aclCheck checks the call against st, logs a denial and returns its
// error reply ("" when allowed).
func (c *client) aclCheck(st *aclUserState, e *entry, args [][]byte) string {
	call := aclCall{e: e, spec: e.spec, args: args}
	if !aclResolve(&call) {
		return ""
	}
	res, pos := st.check(&call)
	if res != aclOK {
		c.last = call.spec // the log's client info shows it as the command
	}
	switch res {
	case aclOK:
		return sortDenied(st, &call)
	case aclDeniedCmd:
		c.aclLog(res, "", call.cmd.name, args)
		return "NOPERM this user has no permissions to run the '" + call.cmd.name + "' command"
	case aclDeniedKey:
		c.aclLog(res, "", string(args[pos]), args)
		return "NOPERM this user has no permissions to access one of the keys used as arguments"
	case aclDeniedChannel:
		c.aclLog(res, "", string(args[pos]), args)
		return "NOPERM this user has no permissions to access one of the channels used as arguments"
	}
	return "NOPERM no permission"
}

// aclResolve finds the ACL command of a call: the subcommand of a
// container. It reports false for an unknown subcommand, which the
// command itself rejects.
func aclResolve(call *aclCall) bool {
	aclTable()
	if len(call.spec.Subcommands) > 0 && len(call.args) > 1 {
		sub := subSpec(call.spec, call.args[1])
		if sub == nil {
			return false
		}
		call.spec = sub
	}
	call.cmd = aclCmds.bySpec[call.spec]
	return call.cmd != nil
}

// scriptDenied checks a command a script calls against the user running
// the script: the error text, or "".
func (c *client) scriptDenied(e *entry, args [][]byte) string {
	st := c.user.state()
	if st.free {
		return ""
	}
	call := aclCall{e: e, spec: e.spec, args: args}
	if !aclResolve(&call) {
		return ""
	}
	res, pos := st.check(&call)
	var what string
	switch res {
	case aclOK:
		return sortDenied(st, &call)
	case aclDeniedCmd:
		c.aclLog(res, "", call.cmd.name, nil)
		what = "can't run this command or subcommand"
	case aclDeniedKey:
		c.aclLog(res, "", string(args[pos]), nil)
		what = "can't access at least one of the keys mentioned in the command arguments"
	case aclDeniedChannel:
		c.aclLog(res, "", string(args[pos]), nil)
		what = "can't publish to the channel mentioned in the command"
	default:
		what = "lacking the permissions for the command"
	}
	return "ERR The user executing the script " + what
}

func cmdACLSetUser(c *client, args [][]byte) {
	name := string(args[2])
	if hasSpace(name) {
		c.replyError("ERR Usernames can't contain spaces or null characters")
		return
	}
	rules := make([]string, len(args)-3)
	for i, a := range args[3:] {
		rules[i] = string(a)
	}
	u, old, st, msg := c.srv.acl.changeUser(name, rules)
	if msg != "" {
		c.replyError(msg)
		return
	}
	if old != nil {
		if allowed, revoked := revokedChannels(old, st); revoked {
			c.killRevokedSubscribers(u, allowed)
		}
	}
	c.replyOK()
}

// killRevokedSubscribers closes the connections of u subscribed to a
// channel or pattern that allowed no longer covers.
func (c *client) killRevokedSubscribers(u *aclUser, allowed []string) {
	for _, cl := range c.srv.clientsByID() {
		cl.info.mu.Lock()
		is := cl.info.user == u
		cl.info.mu.Unlock()
		sub := cl.subPtr.Load()
		if !is || sub == nil || sub.Total() == 0 {
			continue
		}
		lists, ok := c.srv.hub.SubscriptionsOf(sub)
		if !ok {
			continue
		}
		kill := false
		for k, names := range lists {
			for _, n := range names {
				if !chanOK(allowed, []byte(n), pubsub.Kind(k) == pubsub.Pattern) {
					kill = true
				}
			}
		}
		if kill {
			c.kill(cl)
		}
	}
}

func cmdACLDelUser(c *client, args [][]byte) {
	for _, a := range args[2:] {
		if string(a) == "default" {
			c.replyError("ERR The 'default' user cannot be removed")
			return
		}
	}
	r := c.srv.acl
	var gone []*aclUser
	r.mu.Lock()
	for _, a := range args[2:] {
		if u := r.users[string(a)]; u != nil {
			delete(r.users, string(a))
			gone = append(gone, u)
		}
	}
	r.mu.Unlock()
	for _, u := range gone {
		c.killUserClients(u)
	}
	c.replyInt(int64(len(gone)))
}

// killUserClients closes every connection logged in as u, this one after
// its reply; they go back to the default user unauthenticated meanwhile.
func (c *client) killUserClients(u *aclUser) {
	for _, cl := range c.srv.clientsByID() {
		cl.info.mu.Lock()
		is := cl.info.user == u
		cl.info.mu.Unlock()
		if !is {
			continue
		}
		if cl == c {
			c.setUser(c.srv.acl.def, false)
		}
		c.kill(cl)
	}
}

func cmdACLGetUser(c *client, args [][]byte) {
	u := c.srv.acl.user(string(args[2]))
	if u == nil {
		c.replyNull()
		return
	}
	st := u.state()
	c.replyMap(6)
	c.replyBulkString("flags")
	flags := []string{}
	if st.on {
		flags = append(flags, "on")
	} else {
		flags = append(flags, "off")
	}
	if st.nopass {
		flags = append(flags, "nopass")
	}
	switch st.sanitize {
	case 2:
		flags = append(flags, "skip-sanitize-payload")
	case 1:
		flags = append(flags, "sanitize-payload")
	}
	c.replySet(len(flags))
	for _, f := range flags {
		c.replyBulkString(f)
	}
	c.replyBulkString("passwords")
	c.replyArray(len(st.passwords))
	for _, p := range st.passwords {
		c.replyBulkString(p)
	}
	c.replySelector(st.sels[0])
	c.replyBulkString("selectors")
	c.replyArray(len(st.sels) - 1)
	for _, s := range st.sels[1:] {
		c.replyMap(3)
		c.replySelector(s)
	}
}

func (c *client) replySelector(s *aclSelector) {
	c.replyBulkString("commands")
	c.replyBulkString(s.describeCommands())
	c.replyBulkString("keys")
	c.replyBulkString(s.describeKeys())
	c.replyBulkString("channels")
	c.replyBulkString(s.describeChannels())
}

func cmdACLList(c *client, args [][]byte) {
	r := c.srv.acl
	names := r.names()
	c.replyArray(len(names))
	for _, n := range names {
		u := r.user(n)
		if u == nil {
			c.replyBulkString("user " + n)
			continue
		}
		c.replyBulkString("user " + n + " " + u.state().describe())
	}
}

func cmdACLUsers(c *client, args [][]byte) {
	names := c.srv.acl.names()
	c.replyArray(len(names))
	for _, n := range names {
		c.replyBulkString(n)
	}
}

func cmdACLWhoAmI(c *client, args [][]byte) { c.replyBulkString(c.user.name) }

func cmdACLCat(c *client, args [][]byte) {
	if len(args) > 3 {
		c.replyError(aclSubSyntax(args))
		return
	}
	if len(args) == 2 {
		c.replyArray(len(aclCategories))
		for _, n := range aclCategories {
			c.replyBulkString(n)
		}
		return
	}
	cat := aclCategoryBit(string(args[2]))
	if cat == 0 {
		c.replyError("ERR Unknown category '" + string(cString(args[2], 128)) + "'")
		return
	}
	aclTable()
	var names []string
	var walk func([]*aclCmd)
	walk = func(cmds []*aclCmd) {
		for _, a := range cmds {
			if a.cats&cat != 0 {
				names = append(names, a.name)
			}
			walk(a.subs)
		}
	}
	walk(aclCmds.top)
	c.replyArray(len(names))
	for _, n := range names {
		c.replyBulkString(n)
	}
}

// aclSubSyntax is Redis's error for a subcommand given the wrong arguments.
func aclSubSyntax(args [][]byte) string {
	return "ERR unknown subcommand or wrong number of arguments for '" + string(cString(args[1], 128)) + "'. Try ACL HELP."
}

func cmdACLGenPass(c *client, args [][]byte) {
	if len(args) > 3 {
		c.replyError(aclSubSyntax(args))
		return
	}
	bits := int64(256)
	if len(args) == 3 {
		n, ok := wire.ParseInt(args[2])
		if !ok {
			c.replyError(shard.ErrNotInt)
			return
		}
		bits = n
	}
	if bits <= 0 || bits > 4096 {
		c.replyError("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
		return
	}
	chars := (bits + 3) / 4
	buf := make([]byte, (chars+1)/2)
	rand.Read(buf)
	c.replyBulkString(hex.EncodeToString(buf)[:chars])
}

var aclReasons = [...]string{aclDeniedCmd: "command", aclDeniedKey: "key", aclDeniedAuth: "auth", aclDeniedChannel: "channel"}

func cmdACLLog(c *client, args [][]byte) {
	if len(args) > 3 {
		c.replyError(aclSubSyntax(args))
		return
	}
	r := c.srv.acl
	count := int64(10)
	if len(args) == 3 {
		if equalFold(args[2], "reset") {
			r.mu.Lock()
			r.log = nil
			r.mu.Unlock()
			c.replyOK()
			return
		}
		n, ok := wire.ParseInt(args[2])
		if !ok {
			c.replyError(shard.ErrNotInt)
			return
		}
		count = max(n, 0)
	}
	r.mu.Lock()
	entries := make([]aclLogEntry, 0, min(count, int64(len(r.log))))
	for _, e := range r.log {
		if int64(len(entries)) >= count {
			break
		}
		entries = append(entries, *e)
	}
	r.mu.Unlock()
	now := time.Now()
	c.replyArray(len(entries))
	for _, e := range entries {
		c.replyMap(7)
		c.replyBulkString("count")
		c.replyInt(e.count)
		c.replyBulkString("reason")
		c.replyBulkString(aclReasons[e.reason])
		c.replyBulkString("context")
		c.replyBulkString(e.context)
		c.replyBulkString("object")
		c.replyBulkString(e.object)
		c.replyBulkString("username")
		c.replyBulkString(e.username)
		c.replyBulkString("age-seconds")
		c.local = wire.AppendDouble(c.local, float64(now.Sub(e.ctime).Milliseconds())/1000, c.proto)
		c.replyBulkString("client-info")
		c.replyBulkString(e.cinfo)
	}
}

func cmdACLDryRun(c *client, args [][]byte) {
	u := c.srv.acl.user(string(args[2]))
	if u == nil {
		c.replyError("ERR User '" + string(args[2]) + "' not found")
		return
	}
	call := args[3:]
	e := lookup(call[0])
	if e == nil {
		c.replyError("ERR Command '" + string(call[0]) + "' not found")
		return
	}
	spec := e.spec
	if len(spec.Subcommands) > 0 && len(call) > 1 {
		if s := subSpec(spec, call[1]); s != nil {
			spec = s
		} else {
			c.replyError("ERR Command '" + string(call[0]) + "' not found")
			return
		}
	}
	if a := spec.Arity; !(a == len(call) || (a < 0 && len(call) >= -a)) {
		c.replyError("ERR wrong number of arguments for '" + spec.Name + "' command")
		return
	}
	ac := aclCall{e: e, spec: e.spec, args: call}
	if !aclResolve(&ac) {
		c.replyOK()
		return
	}
	switch res, pos := u.state().check(&ac); res {
	case aclOK:
		c.replyOK()
	case aclDeniedCmd:
		c.replyBulkString("This user has no permissions to run the '" + ac.cmd.name + "' command")
	case aclDeniedKey:
		c.replyBulkString("This user has no permissions to access the '" + string(call[pos]) + "' key")
	default:
		c.replyBulkString("This user has no permissions to access the '" + string(call[pos]) + "' channel")
	}
}

func cmdACLLoad(c *client, args [][]byte) {
	file := c.srv.cfg.Value("aclfile")
	if file == "" {
		c.replyError(errNoACLFile)
		return
	}
	if msg := c.srv.acl.loadFile(file, c); msg != "" {
		c.replyError("ERR " + msg)
		return
	}
	c.replyOK()
}

func cmdACLSave(c *client, args [][]byte) {
	file := c.srv.cfg.Value("aclfile")
	if file == "" {
		c.replyError(errNoACLFile)
		return
	}
	if err := c.srv.acl.saveFile(file); err != nil {
		c.srv.log.Warn("ACL SAVE failed", "err", err)
		c.replyError("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
		return
	}
	c.replyOK()
}

const errNoACLFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

func cmdACLHelp(c *client, args [][]byte) {
	c.replyHelp("ACL",
		"CAT [<category>]",
		"    The categories, or the commands in <category>.",
		"DELUSER <username> [<username> ...]",
		"    Remove users and close their connections.",
		"DRYRUN <username> <command> [<arg> ...]",
		"    Tell whether the user may run the command, without running it.",
		"GETUSER <username>",
		"    A user's flags, passwords and permissions.",
		"GENPASS [<bits>]",
		"    A random password of 256 bits, or of <bits>.",
		"LIST",
		"    Every user, as a line of an ACL file.",
		"LOAD",
		"    Replace the users with those of the ACL file.",
		"LOG [<count> | RESET]",
		"    The latest denials, or clear them.",
		"SAVE",
		"    Write the users to the ACL file.",
		"SETUSER <username> <attribute> [<attribute> ...]",
		"    Make or change a user.",
		"USERS",
		"    The user names.",
		"WHOAMI",
		"    The user of this connection.",
	)
}

// execDenials checks the queued commands of a transaction again at EXEC,
// as Redis does, since the user's permissions may have changed since they
// were queued: the error of each refused one ("" for the others), or nil
// when all may run.
func (c *client) execDenials(st *aclUserState) []string {
	var out []string
	for i, tc := range c.tx.calls {
		call := aclCall{e: tc.e, spec: tc.e.spec, args: c.txArgs(tc)}
		if !aclResolve(&call) {
			continue
		}
		res, pos := st.check(&call)
		var why string
		switch res {
		case aclOK:
			continue
		case aclDeniedCmd:
			c.aclLog(res, "", call.cmd.name, nil)
			why = "no permission to execute the command or subcommand"
		case aclDeniedKey:
			c.aclLog(res, "", string(call.args[pos]), nil)
			why = "no permission to touch the specified keys"
		case aclDeniedChannel:
			c.aclLog(res, "", string(call.args[pos]), nil)
			why = "no permission to access one of the channels used as arguments"
		default:
			why = "no permission"
		}
		if out == nil {
			out = make([]string, len(c.tx.calls))
		}
		out[i] = "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: " + why
	}
	return out
}
