"""The ``skopeo copy`` command line for one image to one mirror."""

from __future__ import annotations

from ...registry.settings import RegistrySettings


def docker_ref(registry: str, repository: str, ref: str) -> str:
    """``docker://host/repo:tag`` or ``docker://host/repo@sha256:...``."""
    sep = "@" if ":" in ref else ":"
    return f"docker://{registry}/{repository}{sep}{ref}"


def _tls_flags(side: str, settings: RegistrySettings) -> list[str]:
    # Always explicit: skopeo's own default would come from registries.conf, the manifest is what counts.
    flags = [f"--{side}-tls-verify={'true' if settings.tls_verify else 'false'}"]
    if settings.cert_dir:
        flags.append(f"--{side}-cert-dir={settings.cert_dir}")
    return flags


def copy_argv(binary: str, source: str, destination: str, *, source_settings: RegistrySettings,
              dest_settings: RegistrySettings, auth_file: str, policy: str | None = None,
              tmpdir: str | None = None, setpriv: str | None = None,
              registries_conf: str | None = None) -> list[str]:
    """The ``skopeo copy`` command for one image to one mirror. Carries no secret: credentials are in ``auth_file``.

    ``--retry-times=0``: skopeo would retry only some network errors, a whole copy at a time, waiting 1s, 2s, 4s ...
    without a cap; mirrorsync decides instead (``SkopeoEngine._to_mirror``).
    """
    argv = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    argv += [binary, "--debug"]
    if policy:
        argv += ["--policy", policy]
    if tmpdir:
        argv += ["--tmpdir", tmpdir]
    if registries_conf:  # the source mirrors: skopeo reads the source where mirrorsync does
        argv += ["--registries-conf", registries_conf]
    argv += ["copy", "--all", "--preserve-digests", "--authfile", auth_file, "--retry-times=0",
             *_tls_flags("src", source_settings), *_tls_flags("dest", dest_settings), source, destination]
    return argv
