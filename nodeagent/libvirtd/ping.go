package libvirtd

import (
	"context"
	"fmt"
	"net"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// ping opens a connection to the test driver over the unix socket and asks
// for the library version, within ctx's deadline (or 5 s).
func ping(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	l := golibvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	errc := make(chan error, 1)
	go func() {
		if err := l.ConnectToURI("test:///default"); err != nil {
			errc <- err
			return
		}
		_, err := l.ConnectGetLibVersion()
		_ = l.Disconnect()
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		_ = conn.Close()
		return fmt.Errorf("libvirtd: ping %s: %w", sock, ctx.Err())
	}
}
