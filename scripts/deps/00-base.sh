# Base system packages for atoll and its tests (sourced by scripts/setup.sh; runs as root).
APT_PACKAGES+=(tmux sudo git procps passwd util-linux iproute2 python3-venv acl)  # acl: setfacl for the MCP bridge socket
