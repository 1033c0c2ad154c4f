# System packages for the multi-host tests (tests/hosts, docs/hosts.md) and for fleet use:
# debootstrap builds the test hosts' Debian root (with its keyring and gpgv to verify it),
# openssh-client is the operator's side of every remote query, iproute2 makes the network
# namespaces and veth pairs (and tc netem when the kernel has it), util-linux gives unshare
# and nsenter. Sourced by scripts/setup.sh --dev (runs as root).
APT_PACKAGES+=(debootstrap debian-archive-keyring gpgv wget ca-certificates openssh-client
               iproute2 util-linux procps passwd sudo)
