// Command gateway is identity-gateway: one canonical user-update API in front
// of Volterra, Akana, Commvault and Frontier.
//
//	gateway serve --config gateway.yaml      run the gateway
//	gateway dev [--listen ADDR]              gateway + in-process simulators + memory store
//	gateway sim [--base-port 9101]           the vendor simulators alone
//	gateway translate --target NAME < u.json print the vendor calls for an update (dry run)
//	gateway get ID [--targets a,b] [--json]  one user at every target, and the drift
//	gateway check-config --config FILE       validate a config and open every adapter
//	gateway check-vendors --config FILE      prove every vendor's URL, TLS, credential and permissions
//	gateway hash-key                         print the key_sha256 line for an API key read from stdin
//	gateway version                          print the build's version, revision and Go version
//	gateway help [COMMAND]                   print the usage of gateway or of one command
//	gateway audit --user ID [--config FILE]  print a user's audit trail (PostgreSQL) as a table
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gateway:", err)
		}
		os.Exit(1)
	}
}

// commandDoc is one command's line in `gateway help` and the head of its
// own usage.
type commandDoc struct {
	name, args, summary, about string
}

// commandDocs lists every command, in the order help shows them.
var commandDocs = []commandDoc{
	{"serve", "[--config gateway.yaml] [--listen ADDR] [--pprof ADDR]", "run the gateway",
		"Serves the API with the config's store, clients and vendors. Refuses http vendor URLs not marked\ninsecure, an api_key gateway with no clients, and a client whose key_sha256 is the all-zero placeholder."},
	{"dev", "[--listen ADDR] [--config FILE] [--pprof ADDR]", "run the gateway with in-process vendor simulators and the memory store",
		"Starts every vendor's simulator on loopback, seeds the demo user and serves the built-in (or given)\nconfig against them, with client authentication off. For trying the API, never for production."},
	{"sim", "[--host H] [--base-port 9101] [--seed-users N]", "run the vendor simulators alone",
		"Serves the simulators on consecutive ports (one per vendor) and prints the environment gateway.yaml needs.\nEach simulator takes fault rules at POST /_fault."},
	{"translate", "--target NAME [--id ID] [--config FILE] < update.json", "print the vendor calls an update would make (dry run), update JSON on stdin",
		"Reads one canonical update (the PATCH /v1/users/{id} body) from stdin and prints the dry run's\nresult for one target: every call with credentials redacted. Without --config it runs against\nin-process simulators. Examples: examples/*.json."},
	{"get", "ID [--targets a,b] [--json] [--url URL | --config FILE] [--vendor-id target=id] [--key KEY]", "print one user as every target shows it, and the drift",
		"Asks the running gateway (--url, default http://127.0.0.1:8080; API key from --key or\n$GATEWAY_API_KEY) for GET /v1/users/ID, or with --config reads the vendors directly, and prints\nper target what it holds, then the fields that drift between targets. --json prints the JSON answer."},
	{"migrate", "--config FILE --from SOURCE --to T1,T2 --users users.jsonl [--fields f1,f2] [--dry-run] [--run-id ID] [--shard i/N] [--concurrency N] [--report out.jsonl]", "copy users from one target to others, resumably",
		"Reads each user at the source, copies the fields the destinations take through the same dispatcher,\nand links the accounts. Item keys derive from --run-id and the user, so re-running a run resumes it\n(across processes only with idempotency.store: redis). Prints progress, a per-target summary and\nexits 1 when any user failed."},
	{"audit", "--user ID [--config gateway.yaml] [--limit N]", "print a user's audit trail as a table",
		"Reads the audit trail from PostgreSQL (audit.database_url) directly, so it works while the gateway\nis down: one row per write or dry run, newest first."},
	{"check-config", "[--config gateway.yaml] [--serve]", "validate a config file and open every adapter",
		"Loads and validates the config (every problem is reported with its key) and opens every adapter.\nNo network."},
	{"check-vendors", "[--config gateway.yaml]", "prove each vendor's URL, TLS, credential and permissions with read-only calls",
		"For each vendor: a login where there is one, then one read, through the same retries and breaker\nas updates. Prints vendor, result, latency and what to fix; exits 1 when any vendor fails."},
	{"hash-key", "[--generate] < key", "print the key_sha256 config line for an API key read from stdin",
		"Prints the hex SHA-256 of the API key read from stdin as a clients[].key_sha256 line, or with\n--generate makes a new random key, prints it once and its line."},
	{"version", "", "print the module version, VCS revision and Go version",
		"Reads the build information Go embeds in the binary."},
	{"help", "[COMMAND]", "print this list, or one command's usage",
		"gateway help COMMAND is the same as gateway COMMAND --help."},
}

func docOf(name string) (commandDoc, bool) {
	i := slices.IndexFunc(commandDocs, func(d commandDoc) bool { return d.name == name })
	if i < 0 {
		return commandDoc{}, false
	}
	return commandDocs[i], true
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: gateway <command> [flags]\n\ncommands:\n")
	for _, d := range commandDocs {
		fmt.Fprintf(&b, "  %-14s%s\n", d.name, d.summary)
	}
	b.WriteString("\nRun gateway help COMMAND (or gateway COMMAND --help) for a command's flags.")
	return b.String()
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage())
		return errors.New("a command is required")
	}
	cmd, rest := args[0], args[1:]
	if wantsHelp(rest) {
		// Asked-for usage is output, not an error: it goes to stdout and
		// the command exits 0.
		stderr = stdout
		defer func() {
			if errors.Is(err, flag.ErrHelp) {
				err = nil
			}
		}()
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "dev":
		return cmdDev(ctx, rest, stdout, stderr)
	case "sim":
		return cmdSim(ctx, rest, stdout, stderr)
	case "translate":
		return cmdTranslate(ctx, rest, stdin, stdout, stderr)
	case "get":
		return cmdGet(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(ctx, rest, stdout, stderr)
	case "check-vendors":
		return cmdCheckVendors(ctx, rest, stdout, stderr)
	case "hash-key":
		return cmdHashKey(rest, stdin, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "help":
		return cmdHelp(ctx, rest, stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage())
		return nil
	}
	fmt.Fprintln(stderr, usage())
	return fmt.Errorf("unknown command %q", cmd)
}

// wantsHelp reports whether the flags ask for usage (-h, -help, --help
// before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func cmdHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || wantsHelp(args) {
		fmt.Fprintln(stdout, usage())
		return nil
	}
	if len(args) > 1 {
		return errors.New("help takes one command name")
	}
	if args[0] == "help" {
		fmt.Fprintln(stdout, usage())
		return nil
	}
	if _, ok := docOf(args[0]); !ok {
		fmt.Fprintln(stderr, usage())
		return fmt.Errorf("unknown command %q", args[0])
	}
	return run(ctx, []string{args[0], "--help"}, strings.NewReader(""), stdout, stderr)
}
