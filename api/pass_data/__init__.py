"""A pass's data: with live external data (`/data`), or as stored (`/data/raw`)."""
