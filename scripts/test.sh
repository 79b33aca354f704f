#!/usr/bin/env bash
# scripts/test.sh: the whole drover test suite on a fresh Debian 12 machine with
# only Go. Installs what is missing (Debian packages, Go modules), then runs
# vet, the tests (with -race) and bounded fuzzing. Tests start the services they
# need themselves (embedded etcd, private libvirtd daemons, ...).
#
#   scripts/test.sh            # everything
#   scripts/test.sh -short     # skip the slow end-to-end parts
set -euo pipefail
cd "$(dirname "$0")/.."

SHORT=""
[[ "${1:-}" == "-short" ]] && SHORT="-short"

# Packages the tests use. Root is needed to install them and for the libvirtd,
# debootstrap and mkfs tests.
PKGS=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-daemon-driver-lxc
      libvirt-clients libxml2-utils qemu-system-x86 qemu-utils debootstrap mmdebstrap
      e2fsprogs busybox-static zstd iproute2 procps util-linux openssh-client rsync nftables
      tar coreutils python3-ganeti-rapi ganeti-htools-3.0 prometheus drbd-utils lvm2
      fence-agents openipmi ipmitool
      ganeti-instance-debootstrap systemd chromium fonts-dejavu-core)

install_packages() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		if [[ $(id -u) -ne 0 ]]; then
			echo "test.sh: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
			exit 1
		fi
		echo "test.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

install_packages
go mod download
go vet ./...
# Static (CGO_ENABLED=0): the same binary runs as the agent inside node guests.
CGO_ENABLED=0 go build -o /tmp/drover-test-bin/drover ./cmd/drover

# Real parts are required, not skipped, when root can provide them.
if [[ $(id -u) -eq 0 ]]; then
	export DROVER_REQUIRE_REAL=1
fi
export DROVER_BIN=/tmp/drover-test-bin/drover

# -p 1: packages that start libvirtd daemons and etcd clusters would otherwise
# compete for 2 cores and the same host resources.
go test -race -p 1 -timeout 75m $SHORT -count=1 ./...

# Bounded fuzzing of the parsers and API inputs.
if [[ -f scripts/fuzz.list ]]; then
	while read -r pkg fuzz; do
		[[ -z "$pkg" || "$pkg" == \#* ]] && continue
		go test -run '^$' -fuzz "^${fuzz}\$" -fuzztime "${FUZZTIME:-15s}" "$pkg"
	done < scripts/fuzz.list
fi
echo "test.sh: all tests passed"
