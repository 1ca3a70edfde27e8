"""Privacy: per-customer keys sealing the archive, erasure by crypto-shredding, retention."""
