"""The skopeo engine: the native engine's contract, with each image's content moved by ``skopeo copy``.

Sites that already trust skopeo get the same product on top of it. The runner plans, schedules, reports and
writes the mirror sets exactly as for the native engine; only the transfer differs:

- mirrorsync's own client (through ``Clients``) resolves the tag to a digest, checks each mirror for it (so an
  up-to-date mirror is skipped without starting skopeo) and reads the manifests for the report's ``children``
  and for blob sizes — so digest, mediaType, children and statuses mean what they mean for the native engine;
- one ``skopeo copy --all --preserve-digests docker://SRC@DIGEST docker://MIRROR/REPO:TAG`` (``@DIGEST`` for
  digest jobs) per mirror that lacks the image, several at once, bounded. skopeo pushes children before the
  index and the tag last, so a tag never points at incomplete content;
- credentials reach skopeo only through an auth file that is no file: a memfd (just the two hosts it needs)
  inherited by skopeo and named ``/dev/fd/N``, so no credential is ever on a disk or outlives the processes
  that use it, however they end; never through argv. TLS settings become ``--src/dest-tls-verify`` and
  ``--src/dest-cert-dir``;
- skopeo retries nothing itself (``--retry-times=0``): a failed ``skopeo copy`` is classified from its error
  text (``classify``) and run again with mirrorsync's backoff while it is transient and runs make progress
  (``_Budget``).

skopeo runs with ``--debug`` so that blobs sent/skipped/mounted can be told apart from its log, which is parsed
in memory and never written anywhere (it holds upload URLs with session state). A skopeo that makes no progress
(no output and no I/O) for the run's timeout is killed with its whole process group (a transient failure).

Machine configuration that skopeo users set on purpose is honoured: the signature policy
(``~/.config/containers/policy.json`` or ``/etc/containers/policy.json``; only when neither exists does
mirrorsync pass an accept-anything policy of its own, as skopeo would otherwise refuse to run) and
``registries.conf`` (mirrors there can only serve the same bytes, since the source is always read by digest).

The package, one concept a module: ``binary`` (finding skopeo, its version, the machine's policy), ``arguments``
(the command line), ``auth_file`` (the memfd auth file), ``private_dir`` (the engine's locked directory),
``transcript`` (what skopeo's log says it did), ``failures`` (what a failed run means), ``process`` (running one
skopeo), ``budget`` (whether another run is worth it) and ``engine`` (``SkopeoEngine``, which uses them all).
"""

from .arguments import copy_argv, docker_ref
from .auth_file import auth_document, auth_memfd, auth_path
from .binary import (INSTALL_HINT, MIN_VERSION, POLICY_FILES, SkopeoUnavailable, find_skopeo, parse_version,
                     system_policy)
from .budget import STUCK_RUNS, _Budget, _Progress
from .engine import SkopeoEngine
from .failures import MISMATCH, PERMANENT, TRANSIENT, classify, exit_error, failure_step
from .private_dir import PRIVATE_PREFIX, private_dir
from .process import STOPPED, Outcome, run_skopeo
from .transcript import Transcript, clean_message

__all__ = [
    "INSTALL_HINT", "MIN_VERSION", "MISMATCH", "PERMANENT", "POLICY_FILES", "PRIVATE_PREFIX", "STOPPED", "STUCK_RUNS",
    "TRANSIENT", "Outcome", "SkopeoEngine", "SkopeoUnavailable", "Transcript", "_Budget", "_Progress", "auth_document",
    "auth_memfd", "auth_path", "classify", "clean_message", "copy_argv", "docker_ref", "exit_error", "failure_step",
    "find_skopeo", "parse_version", "private_dir", "run_skopeo", "system_policy",
]
