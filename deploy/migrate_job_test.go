package deploy

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestMigrateJobShardsByCompletionIndex: the migration Job is an Indexed
// Job whose every pod takes its completion index as its shard of the same
// N, under one fixed run id, with the gateway's config (and so its Redis).
func TestMigrateJobShardsByCompletionIndex(t *testing.T) {
	d := docs(t)
	job := one(t, d, "k8s/migrate-job.yaml")
	dep, _ := deployment(t, d)
	containers := list(job, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	args := strs(c, "args")
	completions, _ := get(job, "spec", "completions").(int)
	parallelism, _ := get(job, "spec", "parallelism").(int)
	shard, _ := flagValue(args, "shard")
	runID, _ := flagValue(args, "run-id")
	cfgPath, _ := flagValue(args, "config")
	idx, n, _ := strings.Cut(shard, "/")
	envIndex := false
	for _, e := range list(c, "env") {
		if str(e, "name") == "JOB_COMPLETION_INDEX" &&
			str(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			envIndex = true
		}
	}
	var cfgMap string
	for _, m := range list(c, "volumeMounts") {
		if strings.HasPrefix(cfgPath, str(m, "mountPath")+"/") {
			for _, v := range list(job, "spec", "template", "spec", "volumes") {
				if str(v, "name") == str(m, "name") {
					cfgMap = str(v, "configMap", "name")
				}
			}
		}
	}
	var depCfgMap string
	for _, v := range list(dep, "spec", "template", "spec", "volumes") {
		if n := str(v, "configMap", "name"); n != "" {
			depCfgMap = n
		}
	}
	runChecks(t, []check{
		{"an Indexed batch/v1 Job", str(job, "apiVersion") == "batch/v1" && str(job, "kind") == "Job" && str(job, "spec", "completionMode") == "Indexed",
			"want apiVersion batch/v1, kind Job, completionMode Indexed"},
		{"runs gateway migrate", len(args) > 0 && args[0] == "migrate", fmt.Sprintf("args %v", args)},
		{"shard is the completion index", idx == "$(JOB_COMPLETION_INDEX)" && envIndex,
			"--shard must be $(JOB_COMPLETION_INDEX)/N with JOB_COMPLETION_INDEX declared from the completion-index annotation"},
		{"N matches completions and parallelism", n == strconv.Itoa(completions) && completions == parallelism && completions > 1,
			fmt.Sprintf("--shard %s, completions %d, parallelism %d", shard, completions, parallelism)},
		{"a fixed run id (retries resume)", runID != "" && !strings.Contains(runID, "$("), "--run-id must be a literal"},
		{"the gateway's own config (its Redis)", cfgMap != "" && cfgMap == depCfgMap, fmt.Sprintf("config from %q, deployment uses %q", cfgMap, depCfgMap)},
		{"pods are not restarted in place", str(job, "spec", "template", "spec", "restartPolicy") == "Never", "restartPolicy Never: a retry is a new pod with the same index"},
	})
}
