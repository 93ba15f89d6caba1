"""Who is calling: API keys (hashed, scoped, bound to one tenant) and JWT bearer tokens."""
