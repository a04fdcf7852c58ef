"""Talking to registries: the reference grammar, the OCI distribution API client and its blob-reuse strategy
(mounts, upload sessions), auth (auth.json, Bearer/Basic challenges), TLS, scheme and proxies per host, what
answers mean, the HTTP connection pool, and the retry policy of single requests."""
