package main

import (
	"fmt"
	"time"
)

// The bounds a machine sets on two of issue 25's targets, from the CPU
// every process on it spent per request (/proc): the gateway shares its
// CPUs with the simulators, the load generator and, for the Redis store,
// redis-server, so their work is taken from the same few CPUs.

// totalCPU is the CPU every process spent per request.
func totalCPU(cpu map[string]time.Duration) time.Duration {
	var t time.Duration
	for _, c := range cpu {
		t += c
	}
	return t
}

// fanOutFloor is the least p50 a fan-out can have at its run's CPU costs:
// its work, with the simulators' and the load generator's, cannot take
// less wall time than its CPU time spread over every CPU with none idle.
// It is given against slowest, the slowest single target's p50.
func fanOutFloor(fan map[string]time.Duration, slowest time.Duration, cpus int) (string, bool) {
	all := totalCPU(fan)
	if all <= 0 || slowest <= 0 || cpus <= 0 {
		return "", false
	}
	floor := all / time.Duration(cpus)
	return fmt.Sprintf("fan-out p50 >= %s (%.2fx the slowest single target): the %s of CPU every process spent per fan-out, over %d CPUs",
		floor.Round(time.Microsecond), float64(floor)/float64(slowest), all.Round(time.Microsecond), cpus), true
}

// redisCeiling is the highest throughput the Redis store can reach against
// the memory store, both saturating the same CPUs: were the gateway's own
// Redis work free, an update would still cost every process what it cost
// with the memory store, plus redis-server's share. redis-server's CPU in
// the memory store's run (idle, or another client's) is not the store's.
func redisCeiling(memory, redis map[string]time.Duration, cpus int) (string, bool) {
	mem := totalCPU(memory)
	extra := redis["redis-server"] - memory["redis-server"]
	if mem <= 0 || extra <= 0 {
		return "", false
	}
	return fmt.Sprintf("redis store <= %.2fx memory store throughput: %s of CPU per update with the memory store (every process), plus redis-server's %s on the same %d CPUs",
		float64(mem)/float64(mem+extra), mem.Round(time.Microsecond), extra.Round(time.Microsecond), cpus), true
}
