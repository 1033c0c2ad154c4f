# A real agent CLI for the end-to-end tests (tests/users/test_real_agent.py): OpenAI's Codex
# from npm. With no network it stops at its sign-in screen, a real "waiting" state.
APT_PACKAGES+=(nodejs npm)
CODEX_VERSION=0.169.0
post_install_agents() {
  if ! command -v codex >/dev/null 2>&1; then
    echo "atoll setup: installing @openai/codex@$CODEX_VERSION from npm" >&2
    npm install -g --no-audit --no-fund --loglevel=error "@openai/codex@$CODEX_VERSION" >/dev/null
  fi
}
