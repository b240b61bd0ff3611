module github.com/valkyrie-kv/valkyrie

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	github.com/dgryski/go-farm v0.0.0-20240924180020-3414d57e47da
	github.com/lmittmann/tint v1.2.1
	github.com/redis/go-redis/v9 v9.23.0
	github.com/yuin/gopher-lua v1.1.2
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
