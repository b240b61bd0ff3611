package aof_test

import (
	"fmt"
	"strings"

	"github.com/valkyrie-kv/valkyrie/shard/aof"
)

// Loading the files of a manifest with Redis's rules: only the last file
// may be truncated and then only with aof-load-truncated yes. (Redis
// truncates a cut file on disk before it checks whether it was the last
// one, so a cut middle file is shortened and then refused.)
func ExampleLoader() {
	manifest := "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
	files := map[string]string{
		"appendonly.aof.1.base.aof": "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n",
		"appendonly.aof.1.incr.aof": "*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*1\r\n$5\r\nMULTI\r\n",
	}
	const loadTruncated = true

	m, err := aof.ParseManifest(strings.NewReader(manifest))
	if err != nil {
		for _, l := range err.(*aof.ManifestError).LogLines() {
			fmt.Print(l)
		}
		return // Redis exits with status 1
	}
	list := m.Files()
	for i, f := range list {
		last := i == len(list)-1
		text := files[f.Name]
		if aof.IsRDB([]byte(text)) {
			// Load the RDB with shard/rdb, then the tail with
			// Loader{Start: bytes the RDB took}.
		}
		l := aof.Loader{Apply: func(args [][]byte) error {
			fmt.Printf("%s %q\n", f.Name, args)
			return nil
		}}
		res, err := l.Load(strings.NewReader(text))
		if err != nil {
			fmt.Println(aof.MsgBadFormat(f.Name))
			return
		}
		if res.Truncated {
			if res.RevertedMulti {
				fmt.Println(aof.MsgRevertMulti(f.Name))
			}
			if !loadTruncated {
				fmt.Println(aof.MsgUnexpectedEOF(f.Name))
				return
			}
			before, after := aof.TruncatedLog(f.Name, res.ValidUpTo)
			fmt.Println(strings.Join(before, "\n"))
			// truncate(2) the file to res.ValidUpTo here.
			fmt.Println(after)
			if !last {
				fmt.Println(aof.MsgNotLastTruncated)
				return
			}
		}
	}
	// Output:
	// appendonly.aof.1.base.aof ["SET" "a" "1"]
	// appendonly.aof.1.incr.aof ["INCR" "a"]
	// Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof
	// !!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!
	// !!! Truncating the AOF appendonly.aof.1.incr.aof at offset 21 !!!
	// AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled
}
