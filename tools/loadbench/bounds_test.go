package main

import (
	"testing"
	"time"
)

func TestFanOutFloor(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		name    string
		fan     map[string]time.Duration
		slowest time.Duration
		cpus    int
		want    string
		ok      bool
	}{
		{"two CPUs", map[string]time.Duration{"gateway-memory": 944 * us, "simulators": 765 * us, "loadgen": 222 * us}, 558 * us, 2,
			"fan-out p50 >= 966µs (1.73x the slowest single target): the 1.931ms of CPU every process spent per fan-out, over 2 CPUs", true},
		{"eight CPUs", map[string]time.Duration{"gateway-memory": 800 * us}, 400 * us, 8,
			"fan-out p50 >= 100µs (0.25x the slowest single target): the 800µs of CPU every process spent per fan-out, over 8 CPUs", true},
		{"no /proc", nil, 558 * us, 2, "", false},
		{"no single target", map[string]time.Duration{"gateway-memory": 944 * us}, 0, 2, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fanOutFloor(tt.fan, tt.slowest, tt.cpus)
			if got != tt.want || ok != tt.ok {
				t.Errorf("fanOutFloor = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRedisCeiling(t *testing.T) {
	us := time.Microsecond
	memory := map[string]time.Duration{"gateway-memory": 96 * us, "loadgen": 51 * us, "simulators": 46 * us, "redis-server": 1 * us}
	tests := []struct {
		name  string
		redis map[string]time.Duration
		want  string
		ok    bool
	}{
		// 194 / (194 + 29): redis-server's idle microsecond in the memory
		// store's run is not the store's.
		{"redis on this machine", map[string]time.Duration{"gateway-redis": 115 * us, "loadgen": 52 * us, "simulators": 47 * us, "redis-server": 30 * us},
			"redis store <= 0.87x memory store throughput: 194µs of CPU per update with the memory store (every process), plus redis-server's 29µs on the same 2 CPUs", true},
		{"redis elsewhere", map[string]time.Duration{"gateway-redis": 115 * us}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := redisCeiling(memory, tt.redis, 2)
			if got != tt.want || ok != tt.ok {
				t.Errorf("redisCeiling = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := redisCeiling(nil, map[string]time.Duration{"redis-server": 30 * us}, 2); ok {
		t.Error("a bound without the memory store's CPU")
	}
}
