package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Tar options shared by packing and unpacking: numeric owners, extended
// attributes (file capabilities such as ping's cap_net_raw).
var (
	tarCreateArgs  = []string{"--create", "--file=-", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--sort=name", "--one-file-system"}
	tarExtractArgs = []string{"--extract", "--file=-", "--numeric-owner", "--same-owner", "--same-permissions", "--xattrs", "--xattrs-include=*", "--delay-directory-restore"}
)

// DefaultCompression is zstd when the zstd command is installed, else gzip.
func DefaultCompression() string {
	if _, err := exec.LookPath("zstd"); err == nil {
		return CompressionZstd
	}
	return CompressionGzip
}

// tarballExt is the file name extension for a compression.
func tarballExt(c string) string {
	switch c {
	case CompressionZstd:
		return ".tar.zst"
	case CompressionGzip:
		return ".tar.gz"
	}
	return ".tar"
}

// detectCompression looks at a file's first bytes.
func detectCompression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return CompressionZstd
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return CompressionGzip
	}
	return CompressionNone
}

// command makes an exec.Cmd in its own process group, killed (group and all)
// when ctx ends.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// procWriter is the stdin of a filter process whose stdout is copied to dst.
type procWriter struct {
	io.WriteCloser
	cmd    *exec.Cmd
	copied chan error
	stderr *bytes.Buffer
}

func (p *procWriter) Close() error {
	err := p.WriteCloser.Close()
	cerr := <-p.copied
	werr := p.cmd.Wait()
	if werr != nil {
		return fmt.Errorf("%s: %w: %s", p.cmd.Path, werr, strings.TrimSpace(p.stderr.String()))
	}
	return errors.Join(err, cerr)
}

// compressWriter returns a writer that compresses into dst. Close flushes and
// must be called.
func compressWriter(ctx context.Context, c string, dst io.Writer) (io.WriteCloser, error) {
	switch c {
	case CompressionGzip:
		return gzip.NewWriterLevel(dst, gzip.BestSpeed)
	case CompressionNone:
		return nopWriteCloser{dst}, nil
	case CompressionZstd:
		cmd := command(ctx, "zstd", "-q", "-c", "-3", "-T0")
		return startFilter(cmd, dst)
	}
	return nil, fmt.Errorf("compression %q: %w", c, ErrInvalid)
}

func startFilter(cmd *exec.Cmd, dst io.Writer) (*procWriter, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%s: %w", cmd.Path, ErrToolMissing)
		}
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &procWriter{WriteCloser: stdin, cmd: cmd, copied: make(chan error, 1), stderr: &stderr}
	go func() {
		_, err := io.Copy(dst, stdout)
		p.copied <- err
	}()
	return p, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// decompressReader returns the decompressed stream of r. Close waits for the
// helper process, if any, and reports its failure.
func decompressReader(ctx context.Context, c string, r io.Reader) (io.ReadCloser, error) {
	switch c {
	case CompressionNone:
		return io.NopCloser(r), nil
	case CompressionGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case CompressionZstd:
		cmd := command(ctx, "zstd", "-q", "-d", "-c")
		cmd.Stdin = r
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if err := cmd.Start(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return nil, fmt.Errorf("zstd (install Debian package zstd): %w", ErrToolMissing)
			}
			return nil, fmt.Errorf("start zstd: %w", err)
		}
		return &procReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
	}
	return nil, fmt.Errorf("compression %q: %w", c, ErrInvalid)
}

type procReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func (p *procReader) Close() error {
	// Drain so the process is not killed by SIGPIPE when the caller stopped early
	// at the tar end marker.
	_, _ = io.Copy(io.Discard, p.ReadCloser)
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("zstd: %w: %s", err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

// countingWriter counts bytes and reports them at most every 64 MiB.
type countingWriter struct {
	n, next, total int64
	step           string
	progress       func(Progress)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	if c.progress != nil && c.n >= c.next {
		c.next = c.n + 64<<20
		c.progress(newBytesProgress(c.step, c.n, c.total))
	}
	return len(b), nil
}

// dirStats walks a root filesystem: regular file bytes, entry count and facts.
func dirStats(root string) (size int64, files int, facts rootfsFacts, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		files++
		facts.add(filepath.ToSlash(rel))
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, facts, fmt.Errorf("walk %s: %w", root, err)
	}
	return size, files, facts, nil
}

// packDir writes a compressed tarball of root to out and returns its sha256
// (hex) and size. total is the expected uncompressed size for progress.
func packDir(ctx context.Context, root, out, compression string, total int64, progress func(Progress)) (sum string, size int64, err error) {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("pack: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(out)
		}
	}()
	h := sha256.New()
	cnt := &countingWriter{}
	cw, err := compressWriter(ctx, compression, io.MultiWriter(f, h, cnt))
	if err != nil {
		return "", 0, err
	}
	raw := &countingWriter{step: "pack", total: total, progress: progress}
	tarCmd := command(ctx, "tar", append(append([]string{}, tarCreateArgs...), "--directory="+root, ".")...)
	tarCmd.Stdout = io.MultiWriter(cw, raw)
	var stderr bytes.Buffer
	tarCmd.Stderr = &stderr
	if err := tarCmd.Run(); err != nil {
		cw.Close()
		return "", 0, fmt.Errorf("pack %s: tar: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	if err := cw.Close(); err != nil {
		return "", 0, fmt.Errorf("pack %s: compress: %w", root, err)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("pack: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("pack: close: %w", err)
	}
	if progress != nil {
		progress(newBytesProgress("pack", raw.n, raw.n))
	}
	return hex.EncodeToString(h.Sum(nil)), cnt.n, nil
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	c *countingWriter
}

func (hr *hashingReader) Read(b []byte) (int, error) {
	n, err := hr.r.Read(b)
	if n > 0 {
		hr.h.Write(b[:n])
		hr.c.Write(b[:n])
	}
	return n, err
}

// unpackBlob extracts the tarball at blob into dir (which must exist) with GNU
// tar, checking the blob's sha256 against wantSHA on the way. The tar stream
// is bounded by unpackLimit(m, blob size): past it the unpack is stopped and
// ErrTooLarge returned. On a mismatch it returns ErrChecksum. On any error
// dir holds partial content; the caller removes it.
func unpackBlob(ctx context.Context, blob, wantSHA string, m Manifest, dir string, progress func(Progress)) error {
	f, err := os.Open(blob)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("unpack %s: %w: %w", blob, ErrNotRootfs, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	// Canceled when the bound is passed: that kills zstd and tar at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hr := &hashingReader{r: f, h: sha256.New(), c: &countingWriter{step: "unpack", total: st.Size(), progress: progress}}
	dr, err := decompressReader(ctx, detectCompression(head), hr)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", blob, err)
	}
	// The decompressed stream goes to tar through Go, which counts it.
	br := &boundedReader{r: dr, limit: unpackLimit(m, st.Size())}
	tarCmd := command(ctx, "tar", append(append([]string{}, tarExtractArgs...), "--directory="+dir)...)
	var stderr bytes.Buffer
	tarCmd.Stdin, tarCmd.Stderr = br, &stderr
	terr := tarCmd.Run()
	if br.exceeded() {
		cancel()
		_ = dr.Close()
		return fmt.Errorf("unpack %s: %w", blob, br.err())
	}
	derr := dr.Close()
	// Hash what tar did not need (padding after the end marker).
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return fmt.Errorf("unpack %s: read: %w", blob, err)
	}
	if got := hex.EncodeToString(hr.h.Sum(nil)); wantSHA != "" && got != wantSHA {
		return fmt.Errorf("unpack %s: got sha256 %s, want %s: %w", blob, got, wantSHA, ErrChecksum)
	}
	if terr != nil {
		return fmt.Errorf("unpack %s: tar: %w: %s", blob, terr, strings.TrimSpace(stderr.String()))
	}
	if derr != nil {
		return fmt.Errorf("unpack %s: %w", blob, derr)
	}
	if progress != nil {
		progress(newBytesProgress("unpack", st.Size(), st.Size()))
	}
	return nil
}

// tarScan is what scanTar learns about a tarball.
type tarScan struct {
	facts    rootfsFacts
	packages []Package
	codename string
	files    int
	unpacked int64
}

// scanTar reads a (decompressed) tar stream, checks that it is a root
// filesystem with safe member names, and collects facts for the manifest.
// The stream and the sum of the members' declared sizes must stay within
// limit (ErrTooLarge), checked as the stream is read.
func scanTar(r io.Reader, limit int64) (*tarScan, error) {
	s := &tarScan{}
	br := &boundedReader{r: r, limit: limit}
	tr := tar.NewReader(br)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if br.exceeded() {
			return nil, br.err()
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w: %w", ErrNotRootfs, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			continue
		}
		if path.IsAbs(name) || name != path.Clean(name) || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("tar member %q: unsafe path: %w", hdr.Name, ErrNotRootfs)
		}
		s.files++
		s.facts.add(name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			s.unpacked += hdr.Size
			if s.unpacked > limit {
				// Sparse members declare more than the stream holds.
				return nil, fmt.Errorf("tar members declare more than %d MiB (the bound for its size): %w", limit>>20, ErrTooLarge)
			}
			switch name {
			case "var/lib/dpkg/status":
				if s.packages, err = parseDpkgStatus(tr); err != nil {
					return nil, err
				}
			case "usr/lib/os-release", "etc/os-release":
				b, err := io.ReadAll(io.LimitReader(tr, 64<<10))
				if err != nil {
					return nil, fmt.Errorf("read tar: %w", err)
				}
				if c := osReleaseCodename(b); c != "" {
					s.codename = c
				}
			}
		}
	}
	if !s.facts.hasEtc || !s.facts.hasShell {
		return nil, fmt.Errorf("no etc/passwd or bin/sh: %w", ErrNotRootfs)
	}
	return s, nil
}
