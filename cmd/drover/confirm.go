package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// confirm asks before a destructive action unless -f/--force was given. Without
// a terminal on stdin it refuses, so scripts must pass -f.
func confirm(c *cli.Context, question string) error {
	if c.Bool("force") {
		return nil
	}
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return usagef("%s refused: not a terminal; pass -f to confirm", strings.TrimSuffix(question, "?"))
	}
	fmt.Fprintf(c.App.ErrWriter, "%s y/[n]: ", question)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return nil
	}
	return cli.Exit("aborted", exitFailure)
}
