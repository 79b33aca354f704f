package main

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

var userFields = fieldSet[api.User]{
	defaults: []string{"name", "role", "created"},
	fields: []field[api.User]{
		{"name", "User", func(u api.User) string { return u.Name }},
		{"role", "Role", func(u api.User) string { return u.Role }},
		{"created", "Created", func(u api.User) string { return fmtTime(&u.CreatedAt) }},
	},
}

var tokenFields = fieldSet[api.Token]{
	defaults: []string{"id", "user", "role", "expires", "revoked"},
	fields: []field[api.Token]{
		{"id", "ID", func(t api.Token) string { return t.ID }},
		{"user", "User", func(t api.Token) string { return t.User }},
		{"role", "Role", func(t api.Token) string { return t.Role }},
		{"expires", "Expires", func(t api.Token) string { return fmtTime(&t.ExpiresAt) }},
		{"revoked", "Revoked", func(t api.Token) string { return yesNo(t.Revoked) }},
	},
}

func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "API users, their roles (read, operate, admin) and tokens",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a user",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "role", Aliases: []string{"r"}, Value: api.RoleRead, Usage: "read, operate or admin"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("user add needs one user name")
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					u, err := cl.AddUser(c.Context, api.UserAdd{Name: c.Args().First(), Role: c.String("role")})
					if err != nil {
						return err
					}
					if outputJSON(c) {
						return printJSON(c.App.Writer, u)
					}
					fmt.Fprintf(c.App.Writer, "User %s added with role %s\n", u.Name, u.Role)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list users",
				Flags: listFlags(),
				Action: func(c *cli.Context) error {
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					us, err := cl.ListUsers(c.Context)
					if err != nil {
						return err
					}
					return printList(c, userFields, us)
				},
			},
			{
				Name:      "remove",
				Usage:     "remove a user; their tokens stop working",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("user remove needs one user name")
					}
					if err := confirm(c, fmt.Sprintf("Remove user %s?", c.Args().First())); err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					return cl.RemoveUser(c.Context, c.Args().First())
				},
			},
			{
				Name:      "passwd",
				Usage:     "set a user's password for the Ganeti RAPI (HTTP Basic), read from stdin",
				ArgsUsage: "NAME",
				Action:    userPasswd,
			},
			{
				Name:      "token",
				Usage:     "issue a token for a user (printed once), or list and revoke tokens",
				ArgsUsage: "NAME",
				Flags: append(listFlags(),
					&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "validity"},
					&cli.BoolFlag{Name: "list", Usage: "list the user's tokens instead"},
					&cli.StringFlag{Name: "revoke", Usage: "revoke the token with this id"},
				),
				Action: userToken,
			},
		},
	}
}

func userToken(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	if id := c.String("revoke"); id != "" {
		if err := cl.RevokeToken(c.Context, id); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "Token %s revoked\n", id)
		return nil
	}
	if c.NArg() != 1 {
		return usagef("user token needs one user name")
	}
	user := c.Args().First()
	if c.Bool("list") {
		ts, err := cl.ListTokens(c.Context, user)
		if err != nil {
			return err
		}
		return printList(c, tokenFields, ts)
	}
	t, err := cl.IssueToken(c.Context, user, c.Duration("ttl"))
	if err != nil {
		return err
	}
	if outputJSON(c) {
		return printJSON(c.App.Writer, t)
	}
	fmt.Fprintln(c.App.Writer, t.Token)
	fmt.Fprintf(c.App.ErrWriter, "Token %s for %s (role %s) expires %s\n", t.ID, t.User, t.Role, fmtTime(&t.ExpiresAt))
	return nil
}

// userPasswd reads the password from the first line of stdin (a terminal
// gets a prompt on stderr; the line is not echoed only if the terminal is
// set so) and stores it on the masters as a bcrypt hash.
func userPasswd(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("user passwd needs one user name")
	}
	fmt.Fprintf(c.App.ErrWriter, "Password for %s (one line on stdin): ", c.Args().First())
	line, err := bufio.NewReader(c.App.Reader).ReadString('\n')
	if err != nil && line == "" {
		return usagef("user passwd: no password on stdin")
	}
	fmt.Fprintln(c.App.ErrWriter)
	pw := strings.TrimRight(line, "\r\n")
	if err := (api.PasswordSet{Password: pw}).Validate(); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	if err := cl.SetPassword(c.Context, c.Args().First(), pw); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "Password of %s set\n", c.Args().First())
	return nil
}
