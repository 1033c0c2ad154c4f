# Packages the ledger tests use (sourced by scripts/setup.sh --dev; runs as root):
# ssh for the witness's unreachable-host test, chattr (e2fsprogs) for the immutable-ledger
# test, mount/umount for the full-disk tmpfs and read-only bind mount tests.
APT_PACKAGES+=(openssh-client e2fsprogs mount)
