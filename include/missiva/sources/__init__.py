"""Source data: the extract from the core systems, its validation (GX), the staging of chunks."""
