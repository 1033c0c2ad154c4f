# Islands (docs/islands.md): container engines, bubblewrap and debootstrap for the island
# image. Sourced by scripts/setup.sh --dev as root on Debian 12.
#   docker.io      dockerd + runc + containerd (Debian's build; starts as root with `dockerd &`)
#   podman         rootful podman (atoll runs it with --runtime runc); catatonit for --init
#   runc           the OCI runtime both engines use (crun fails on hybrid cgroup v1 hosts)
#   bubblewrap     bwrap islands
#   debootstrap    `atoll image build --bootstrap` (no registry needed)
#   uidmap slirp4netns fuse-overlayfs   rootless podman for non-root operators
#   iptables       dockerd's bridge network (islands with --net)
#   fuse3          the grant broker's filesystem (fusermount3, libfuse3)
APT_PACKAGES+=(docker.io podman runc catatonit bubblewrap debootstrap uidmap slirp4netns
               fuse-overlayfs iptables ca-certificates fuse3)

# /dev/fuse is 0666 on a host (udev's rule); a container-made /dev may leave it 0600, and
# then no agent user can mount its grant broker (fusermount3 opens it as the user).
post_install_fuse() {
  if [ -c /dev/fuse ] && [ "$(id -u)" = 0 ]; then
    chmod 0666 /dev/fuse
  fi
}

# Start dockerd if it does not answer (no systemd in CI containers); waits up to 60 s for
# /var/run/docker.sock. Call it after the packages are installed.
post_install_islands() {
  if docker version >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "atoll setup: dockerd is not running (start it as root: dockerd &)" >&2
    return 0
  fi
  echo "atoll setup: starting dockerd (log: /var/log/atoll-dockerd.log)" >&2
  setsid /usr/sbin/dockerd >>/var/log/atoll-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    if [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "atoll setup: dockerd did not start; see /var/log/atoll-dockerd.log" >&2
  tail -n 5 /var/log/atoll-dockerd.log >&2 || true
  return 1
}
