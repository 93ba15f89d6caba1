"""Statistics of a tenant's passes: counters and daily buckets maintained on write
(counting.py), read by the API (reading.py), checked against the passes by a beat sweep
(reconcile.py)."""
