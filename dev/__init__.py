"""Development-only tools: local servers and stand-ins. Never imported by app code."""
