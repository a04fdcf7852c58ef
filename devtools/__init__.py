"""Development tools, not part of the installed package: local docker-registry processes (devregistry) and
generated sample images (samples) for the tests, the demo (scripts/demo) and the benchmarks (scripts/bench)."""
