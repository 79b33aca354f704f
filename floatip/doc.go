// Package floatip moves floating IPv4 addresses between hosts: it holds one
// on a device whose life is the process's (the cluster IP), adds and
// removes one on a host device (instance service addresses) and announces
// a taken address with gratuitous ARP (docs/ha.md, "Floating addresses").
package floatip
