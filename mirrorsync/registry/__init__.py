"""Talking to registries: the reference grammar, the OCI distribution API client, auth (auth.json, Bearer/Basic
challenges), TLS and proxies per host, the HTTP connection pool, and the retry policy of single requests."""
