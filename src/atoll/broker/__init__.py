"""The broker: atoll's operator-side FUSE file server for grants (issue 16)."""
