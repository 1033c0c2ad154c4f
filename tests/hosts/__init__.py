"""Test hosts: separate Debian machines on this one, each with its own address, /etc, /tmp
and sshd (network namespace + overlayfs root + pid/mount/uts namespaces). See docs/hosts.md.
"""
