# A real agent CLI for the end-to-end tests (tests/users/test_real_agent.py): OpenAI's Codex
# from npm. With no network it stops at its sign-in screen, a real "waiting" state.
# Node from Debian only when the machine has none (an existing Node, e.g. NodeSource's, ships
# its own npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi
CODEX_VERSION=0.169.0
post_install_agents() {
  if ! command -v codex >/dev/null 2>&1; then
    echo "atoll setup: installing @openai/codex@$CODEX_VERSION from npm" >&2
    npm install -g --no-audit --no-fund --loglevel=error "@openai/codex@$CODEX_VERSION" >/dev/null
  fi
}
