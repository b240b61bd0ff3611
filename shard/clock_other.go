//go:build !amd64

package shard

func readTSC() uint64 { return 0 }

const haveTSC = false
