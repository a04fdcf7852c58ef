"""Across an air gap: the OCI layout store on disk, export to it and import from it (archives, checksums,
``--since`` chains)."""
