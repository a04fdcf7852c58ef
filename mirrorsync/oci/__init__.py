"""The OCI content model (descriptors, manifests, indexes, digests) and the ContentStore interface that both a
registry and an OCI layout implement, so that one copy algorithm serves them all."""
