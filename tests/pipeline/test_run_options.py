"""Command-line flags over the manifest's ``options``: ``--blob-concurrency`` is the native engine's blob pool, and
the flags are range-checked as the options are (the run-level ones, ``--timeout`` and ``--retries``, are proven
against a silent source in tests/integration/test_flag_overrides.py)."""

from __future__ import annotations

from support.cli import mirrorsync

from mirrorsync.pipeline.runner import RunOptions, Runner
from mirrorsync.pipeline.sections import parse_manifest


def test_blob_concurrency_flag_sizes_the_native_engines_blob_pool():
    m = parse_manifest("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m.example]\n"
                       "options: {blobConcurrency: 8}\nimages: [{source: quay.io/a/b, tags: ['1']}]\n")
    for given, want in ((None, 8), (3, 3)):
        runner = Runner(m, RunOptions(blob_concurrency=given))
        clients = runner.clients()
        engine = runner.make_engine(clients)
        try:
            assert engine._pool._max_workers == want
        finally:
            engine.close()
            clients.close()


def test_flags_are_range_checked_like_the_options(tmp_path):
    for flag, value in (("--timeout", "0"), ("--blob-concurrency", "0"), ("--timeout", "86401")):
        proc = mirrorsync("run", str(tmp_path / "any.yaml"), flag, value)
        assert proc.returncode == 2 and proc.stderr.startswith(f"error: Invalid value for '{flag}'"), proc.stderr
