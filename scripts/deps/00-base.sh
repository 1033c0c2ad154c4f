# Base system packages for atoll and its tests (sourced by scripts/setup.sh; runs as root).
APT_PACKAGES+=(tmux sudo git procps passwd util-linux iproute2 python3-venv acl)  # acl: setfacl for the MCP bridge socket
# fuse3: the grant broker (libfuse3 for mfusepy, and the setuid fusermount3 an agent user
# mounts its broker filesystem with; docs/islands.md "Grants")
APT_PACKAGES+=(fuse3)
