package shard

func init() {
	register(
		&Command{Spec: Spec{Name: "del", Arity: -2, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Deletes one or more keys.",
			Complexity: "O(N) where N is the number of keys that will be removed.", Syntax: "key [key ...]"},
			Run: cmdDel},
		&Command{Spec: Spec{Name: "exists", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, Step: 1,
			Group: "generic", Since: "1.0.0", Summary: "Determines whether one or more keys exist.",
			Complexity: "O(N) where N is the number of keys to check.", Syntax: "key [key ...]"},
			Run: cmdExists},
	)
}

func cmdDel(c *Ctx) {
	var n int64
	for _, key := range c.Args[1:] {
		db := c.db(key)
		if _, ok := db.get(key, c.Now); ok && db.remove(key) {
			n++
		}
	}
	c.Int(n)
}

func cmdExists(c *Ctx) {
	var n int64
	for _, key := range c.Args[1:] {
		if _, ok := c.db(key).get(key, c.Now); ok {
			n++
		}
	}
	c.Int(n)
}
