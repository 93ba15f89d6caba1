"""Pass types as data: stored numbered versions of a pass type folder, the active version
every process renders with, and previews (docs/passtypes.md)."""
