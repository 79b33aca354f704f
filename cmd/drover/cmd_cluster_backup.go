package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/master"
)

// clusterOpsCommands are the cluster verbs of operations: backup and
// restore (docs/operations.md).
func clusterOpsCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "backup",
			Usage:     "write a backup of the cluster (etcd snapshot, cluster directory, templates) to FILE (admin)",
			ArgsUsage: "FILE",
			Action:    clusterBackup,
		},
		{
			Name:      "restore",
			Usage:     "make a new cluster directory from a backup, with etcd data restored for its masters (offline; then start the masters)",
			ArgsUsage: "FILE",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "dir", Required: true, Usage: "new cluster directory (must be empty)"},
				&cli.StringSliceFlag{Name: "master", Usage: "restore only this master's etcd data and templates (repeat; default all, as in one local directory)"},
			},
			Action: clusterRestore,
		},
	}
}

// clusterBackup writes to FILE.partial and renames it when complete, so
// that FILE is never a cut-off backup.
func clusterBackup(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("cluster backup needs the file to write")
	}
	file := c.Args().First()
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := cl.Backup(c.Context, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Backup written to %s (%s)\n", file, fmtBytes(n))
	return nil
}

func clusterRestore(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("cluster restore needs the backup file")
	}
	dir, err := filepath.Abs(c.String("dir"))
	if err != nil {
		return err
	}
	res, err := master.Restore(master.RestoreOptions{Backup: c.Args().First(), Dir: dir, Masters: c.StringSlice("master")})
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(c.App.Writer, "Restored cluster %s (backup of %s by %s, etcd revision %d) into %s for masters %v.\nStart them with: drover master --dir %s --name NAME\n",
		m.Cluster, m.CreatedAt.Format("2006-01-02 15:04:05Z"), m.Master, m.Revision, dir, res.Masters, dir)
	return nil
}
