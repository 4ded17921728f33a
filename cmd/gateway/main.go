// Command gateway is identity-gateway: one canonical user-update API in front
// of Volterra, Akana, Commvault and Frontier.
//
//	gateway serve --config gateway.yaml      run the gateway
//	gateway dev [--listen ADDR]              gateway + in-process simulators + memory store
//	gateway sim [--base-port 9101]           the four vendor simulators alone
//	gateway translate --target NAME < u.json print the vendor calls for an update (dry run)
//	gateway check-config --config FILE       validate a config and open every adapter
//	gateway hash-key                         print the key_sha256 line for an API key read from stdin
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

const usage = `usage: gateway <command> [flags]

commands:
  serve         run the gateway (--config gateway.yaml)
  dev           run the gateway with in-process vendor simulators and the memory store
  sim           run the four vendor simulators alone
  translate     print the vendor calls an update would make (dry run), update JSON on stdin
  check-config  validate a config file and open every adapter
  hash-key      print the key_sha256 config line for an API key read from stdin
  audit         print a user's audit trail as a table (--user ID, reads audit.database_url)`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "dev":
		return cmdDev(ctx, rest, stdout, stderr)
	case "sim":
		return cmdSim(ctx, rest, stdout, stderr)
	case "translate":
		return cmdTranslate(ctx, rest, stdin, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(ctx, rest, stdout, stderr)
	case "hash-key":
		return cmdHashKey(rest, stdin, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
