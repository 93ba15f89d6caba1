"""Pass domain: what a pass is and what jobs do to it."""
