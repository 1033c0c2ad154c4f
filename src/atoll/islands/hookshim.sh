#!/bin/sh
# `atoll` inside an island (docs/hooks.md, "Islands"): only `atoll hook EVENT` exists here.
# It maps the agent's hook event to a state (the same table as atoll.core.status.HOOK_EVENTS;
# tests/unit/test_hookshim.py keeps them equal) and reports it through the island's channel,
# which reaches this pane's state and nothing else:
# - bwrap: $ATOLL_HOOK_FIFO, a FIFO bound into the sandbox (it cannot be replaced from
#   inside) that a relay outside reads, 16 bytes at a time, accepting four words;
# - docker/podman: the island's own tmux server (it runs in the container).
[ "$#" -ge 2 ] && [ "$1" = hook ] || {
  echo "atoll: inside an island only 'atoll hook EVENT' exists" >&2; exit 2; }
case "$2" in
  waiting|permission|notification) state=waiting ;;
  running|prompt|tool|start) state=running ;;
  idle|stop|done) state=idle ;;
  clear) state=clear ;;
  *) echo "atoll: unknown hook event (use waiting, running, idle or clear)" >&2; exit 2 ;;
esac
if [ -n "${ATOLL_HOOK_FIFO:-}" ]; then
  [ -p "$ATOLL_HOOK_FIFO" ] || exit 1
  # never hang the agent's hook when nobody reads (the relay is gone)
  exec timeout 2 sh -c 'printf "%s\n" "$1" > "$2"' sh "$state" "$ATOLL_HOOK_FIFO"
fi
[ -n "${TMUX:-}" ] && [ -n "${TMUX_PANE:-}" ] || {
  echo "atoll: atoll hook must run inside a tmux pane" >&2; exit 2; }
sock=${TMUX%%,*}
if [ "$state" = clear ]; then
  exec tmux -S "$sock" set-option -p -u -t "$TMUX_PANE" @atoll_state
fi
exec tmux -S "$sock" set-option -p -t "$TMUX_PANE" @atoll_state "$state" \; \
  set-option -p -t "$TMUX_PANE" @atoll_state_time "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
