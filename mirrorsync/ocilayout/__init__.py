"""OCI image layouts on disk, read as untrusted input: index.json and blobs checked against their descriptors."""
