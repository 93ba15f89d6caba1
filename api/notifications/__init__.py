"""A message (and optional data patch) to one pass: `PUT …/passes/{passId}/notification`."""
