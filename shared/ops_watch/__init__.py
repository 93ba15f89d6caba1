"""`passwire ops watch <correlationId>`: follow an operation over the HTTP API with a progress
bar and ETA until it ends.

`progress` formats (pure), `client` fetches an operation, `follow` polls and redraws,
`command` is the argparse wiring and the exit codes.
"""
