"""Emailing a pass's holder the link to its download page (`POST …/passes/{passId}/email`)."""
