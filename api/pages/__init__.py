"""The pass download page for a brand's customers (HTML, opened with a signed link)."""
