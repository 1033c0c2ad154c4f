"""The MCP shell: ``atoll mcp`` (operator mode)."""
