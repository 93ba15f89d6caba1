"""Links by API (signed download page, direct wallet links) and install attribution."""
