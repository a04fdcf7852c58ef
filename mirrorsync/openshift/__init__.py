"""OpenShift's side: the IDMS/ITMS/ICSP model and its YAML, mirror sets built from a report, MCO validation,
registries.conf rendering, pull resolution as CRI-O does it, migrate-icsp and cluster-resources output."""
