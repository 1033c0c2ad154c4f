# A real agent CLI for the end-to-end tests (tests/users/test_real_agent.py): OpenAI's Codex
# from npm. With no network it stops at its sign-in screen, a real "waiting" state.
# Node from Debian only when the machine has none (an existing Node, e.g. NodeSource's, ships
# its own npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi
# Claude Code too: its real hooks (session id, SessionStart) and its --resume are tested
# (tests/cli/test_hooks_real_agent.py, tests/users/test_survive_agents.py); without it those
# tests would skip.
CODEX_VERSION=0.169.0
CLAUDE_VERSION=2.1.197
post_install_agents() {
  if ! command -v codex >/dev/null 2>&1; then
    echo "atoll setup: installing @openai/codex@$CODEX_VERSION from npm" >&2
    npm install -g --no-audit --no-fund --loglevel=error "@openai/codex@$CODEX_VERSION" >/dev/null
  fi
  if ! command -v claude >/dev/null 2>&1; then
    echo "atoll setup: installing @anthropic-ai/claude-code@$CLAUDE_VERSION from npm" >&2
    npm install -g --no-audit --no-fund --loglevel=error \
      "@anthropic-ai/claude-code@$CLAUDE_VERSION" >/dev/null
  fi
}
