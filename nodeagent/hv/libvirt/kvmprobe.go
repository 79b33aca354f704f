package libvirt

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	probeOnce sync.Once
	probeErr  error
)

// ProbeKVM reports whether /dev/kvm can run an ordinary guest. It requires a
// hardware-virtualisation KVM module (kvm_intel or kvm_amd): a /dev/kvm
// served only by kvm_pvm (as on the project's CI machines) runs PVM-enabled
// guests only, and a stock kernel hangs there. Then it creates a VM with one
// vCPU in real mode whose only instruction is HLT and checks that KVM_RUN
// exits with KVM_EXIT_HLT. When it fails, kvm domains fall back to TCG
// (domain type qemu). The result is cached for the process.
func ProbeKVM() error {
	probeOnce.Do(func() {
		done := make(chan error, 1)
		go func() { done <- probeKVM() }()
		select {
		case probeErr = <-done:
		case <-time.After(5 * time.Second):
			probeErr = errors.New("kvm probe: KVM_RUN did not return within 5s")
		}
	})
	return probeErr
}

const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmRun                 = 0xAE80
	kvmGetRegs             = 0x8090AE81
	kvmSetRegs             = 0x4090AE82
	kvmGetSregs            = 0x8138AE83
	kvmSetSregs            = 0x4138AE84
	kvmExitHLT             = 5
)

func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

func probeKVM() error {
	if !moduleLoaded("kvm_intel") && !moduleLoaded("kvm_amd") {
		if moduleLoaded("kvm_pvm") {
			return errors.New("kvm probe: /dev/kvm is served by kvm_pvm only (no kvm_intel or kvm_amd): it runs PVM guests only")
		}
		return errors.New("kvm probe: neither kvm_intel nor kvm_amd is loaded")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	kvm, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("kvm probe: %w", err)
	}
	defer unix.Close(kvm)
	if v, err := ioctl(kvm, kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("kvm probe: API version %d: %v", v, err)
	}
	vmfd, err := ioctl(kvm, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("kvm probe: create VM: %w", err)
	}
	defer unix.Close(int(vmfd))
	mem, err := unix.Mmap(-1, 0, 0x1000, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("kvm probe: mmap: %w", err)
	}
	defer unix.Munmap(mem)
	mem[0] = 0xf4 // hlt
	region := struct {
		slot, flags             uint32
		guestPhys, size, usrAdr uint64
	}{0, 0, 0x1000, 0x1000, uint64(uintptr(unsafe.Pointer(&mem[0])))}
	if _, err := ioctl(int(vmfd), kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&region))); err != nil {
		return fmt.Errorf("kvm probe: set memory: %w", err)
	}
	vcpu, err := ioctl(int(vmfd), kvmCreateVCPU, 0)
	if err != nil {
		return fmt.Errorf("kvm probe: create vcpu: %w", err)
	}
	defer unix.Close(int(vcpu))
	size, err := ioctl(kvm, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fmt.Errorf("kvm probe: mmap size: %w", err)
	}
	run, err := unix.Mmap(int(vcpu), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("kvm probe: mmap run: %w", err)
	}
	defer unix.Munmap(run)
	var sregs [0x138]byte
	if _, err := ioctl(int(vcpu), kvmGetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return fmt.Errorf("kvm probe: get sregs: %w", err)
	}
	*(*uint64)(unsafe.Pointer(&sregs[0])) = 0  // cs.base
	*(*uint16)(unsafe.Pointer(&sregs[12])) = 0 // cs.selector
	if _, err := ioctl(int(vcpu), kvmSetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return fmt.Errorf("kvm probe: set sregs: %w", err)
	}
	var regs [18]uint64
	regs[16], regs[17] = 0x1000, 0x2 // rip, rflags
	if _, err := ioctl(int(vcpu), kvmSetRegs, uintptr(unsafe.Pointer(&regs[0]))); err != nil {
		return fmt.Errorf("kvm probe: set regs: %w", err)
	}
	if _, err := ioctl(int(vcpu), kvmRun, 0); err != nil {
		return fmt.Errorf("kvm probe: run: %w", err)
	}
	if reason := *(*uint32)(unsafe.Pointer(&run[8])); reason != kvmExitHLT {
		return fmt.Errorf("kvm probe: guest exit reason %d, want HLT (%d): this /dev/kvm cannot run ordinary guests", reason, kvmExitHLT)
	}
	return nil
}

func moduleLoaded(name string) bool {
	_, err := os.Stat("/sys/module/" + name)
	return err == nil
}
