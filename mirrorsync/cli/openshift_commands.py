"""The commands about a cluster's side of mirroring, none of which copies an image: ``migrate-icsp``,
``registries-conf`` and ``resolve`` (mirror set CRs and what a node makes of them), ``release info`` and
``catalog list`` (look into release images and operator catalogs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError, MirrorsyncError
from ..pipeline import sections as manifest_mod
from .options import AuthFileOpt, OutputFileShortOpt, OutputFormat, OutputFormatOpt, output_file
from .outputs import fail, write_text_output


def migrate_icsp(
    files: List[str] = typer.Argument(..., metavar="FILE",
                                      help="ImageContentSourcePolicy files (YAML or JSON, several documents allowed)."),
    dest_dir: Optional[str] = typer.Option(None, "--dest-dir", metavar="DIR",
                                           help="Where to write (default: the current directory; created if missing)."),
) -> None:
    """Convert ICSP files to ImageDigestMirrorSet files, like `oc adm migrate icsp`.

    Writes one imagedigestmirrorset_<first ICSP's name>.<random digits>.yaml per input file, one IDMS per ICSP.

    Every input is checked first: anything that is not an ICSP fails the command before a file is written.
    """
    from ..openshift.migrate_icsp import migrate_icsp as migrate

    try:
        written = migrate(files, dest_dir)
    except InputError as exc:
        fail(exc)
        return
    for path in written:
        typer.echo(f"wrote ImageDigestMirrorSet to {path}")


def registries_conf(
    paths: List[str] = typer.Argument(..., metavar="FILE_OR_DIR",
                                      help="IDMS/ITMS/ICSP files (.yaml/.yml/.json, several documents, kind: List) or "
                                           "directories of them (other kinds in a directory are skipped; of an "
                                           "output directory, its cluster-resources/)."),
    insecure: List[str] = typer.Option([], "--insecure", metavar="SCOPE",
                                       help="An insecure registry of the cluster (image.config.openshift.io "
                                            "registrySources.insecureRegistries); repeatable."),
    blocked: List[str] = typer.Option([], "--blocked", metavar="SCOPE",
                                      help="A blocked registry of the cluster (registrySources.blockedRegistries); "
                                           "repeatable."),
    output: Optional[str] = typer.Option(None, "--output", metavar="FILE",
                                         help="Write to FILE (atomically) instead of standard output."),
    output_short: Optional[str] = OutputFileShortOpt,
) -> None:
    """Render the /etc/containers/registries.conf the Machine Config Operator would write for these objects.

    Where the MCO would refuse the objects, fails with the MCO's own message (exit code 2).

    What only the API server would refuse (such as a mirrorSourcePolicy outside the enum) is a warning.
    """
    from ..openshift.crs import load_mirror_sets
    from ..openshift.mco import crd_problems
    from ..openshift.registries_conf import render_registries_conf

    try:
        output = output_file(output, output_short)
        sets = load_mirror_sets(paths)
        text = render_registries_conf(sets, insecure, blocked)
        for ms in sets:
            for problem in crd_problems(ms):
                typer.echo(f"warning: {problem} (the API server would reject this object)", err=True)
        write_text_output(text, output)
    except InputError as exc:
        fail(exc)


def resolve(
    reference: str = typer.Argument(..., metavar="REF",
                                    help="Image reference; short names are normalised (busybox -> "
                                         "docker.io/library/busybox:latest)."),
    paths: Optional[List[str]] = typer.Argument(None, metavar="CR_FILE_OR_DIR",
                                                help="IDMS/ITMS/ICSP files or directories (an output directory: "
                                                     "its cluster-resources/), rendered as the MCO would (instead "
                                                     "of --registries-conf)."),
    registries_conf_file: Optional[str] = typer.Option(None, "--registries-conf", metavar="FILE",
                                                       help="Resolve against this registries.conf (v2) instead."),
    insecure: List[str] = typer.Option([], "--insecure", metavar="SCOPE",
                                       help="With CR files: an insecure registry of the cluster; repeatable."),
    blocked: List[str] = typer.Option([], "--blocked", metavar="SCOPE",
                                      help="With CR files: a blocked registry of the cluster; repeatable."),
    output: OutputFormat = OutputFormatOpt,
) -> None:
    """Show where a node would pull REF from, in order: mirrors first, the primary location last.

    The longest matching registries.conf prefix applies (containers/image rules).

    Digest-only mirrors serve digest references, tag-only mirrors tag references; blocked locations are skipped.
    """
    from ..openshift import registries_conf as regconf
    from ..openshift.crs import load_mirror_sets
    from ..openshift.resolve import config_from_mirror_sets, resolve as resolve_ref

    try:
        if bool(paths) == bool(registries_conf_file):
            raise InputError("give either --registries-conf FILE or CR files/directories (one of the two)")
        if registries_conf_file:
            if insecure or blocked:
                raise InputError("--insecure and --blocked apply to CR files; a registries.conf already has them")
            config = regconf.load(registries_conf_file)
        else:
            config = config_from_mirror_sets(load_mirror_sets(paths or []), insecure, blocked)
        result = resolve_ref(reference, config)
    except InputError as exc:
        fail(exc)
        return
    if output == OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    entry = f'registries.conf entry "{result.matched_prefix}"' if result.matched_prefix else \
        "no registries.conf entry applies"
    typer.echo(f"{result.reference} ({entry})")
    for i, source in enumerate(result.sources, 1):
        notes = ["mirror" if source.mirror else "primary"]
        notes += [n for n in (source.pull_from_mirror, "insecure" if source.insecure else "",
                              "blocked: never contacted" if source.blocked else "") if n]
        typer.echo(f"  {i}. {source.reference}  ({', '.join(notes)})")
    if all(source.blocked for source in result.sources):
        typer.echo("every location is blocked: this pull fails")


def release_info(
    reference: str = typer.Argument(..., metavar="REF", help="A release image, by tag or digest."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", metavar="MANIFEST", dir_okay=False,
                                            help="Registry settings (TLS, certificates, auth) from this manifest."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Do not verify the release registry's TLS; allow plain HTTP."),
    authfile: Optional[str] = AuthFileOpt,
    output: OutputFormat = OutputFormatOpt,
) -> None:
    """Print a release image's version, upgrades and components, like `oc adm release info`.

    Reads release-manifests/ from the image's layers, streamed; nothing is pulled or written.
    """
    from ..openshift.releases.info import describe_release

    try:
        m = manifest_mod.load_manifest(str(manifest)) if manifest else None
        text = describe_release(reference, m, auth_file=authfile, as_json=output == OutputFormat.json,
                                insecure=insecure)
    except MirrorsyncError as exc:
        fail(exc)
        return
    sys.stdout.write(text)


def catalog_list(
    catalog: str = typer.Argument(..., metavar="CATALOG",
                                  help="The catalog image, e.g. registry.redhat.io/redhat/redhat-operator-index:v4.15, "
                                       "or oci:///path of an OCI layout holding it."),
    package: Optional[str] = typer.Option(None, "--package", metavar="P",
                                          help="Show this package's every bundle with its upgrade edges."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", metavar="MANIFEST", dir_okay=False,
                                            help="Take registry settings (TLS, certificates, auth) from this "
                                                 "manifest."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Do not verify the catalog registry's TLS; allow plain HTTP."),
    authfile: Optional[str] = AuthFileOpt,
) -> None:
    """Print a catalog's packages, channels, heads and versions: what an operators filter is written from.

    An image that holds no file-based catalog is an error (exit 1), as an image that is no release is for
    `release info`.
    """
    from ..openshift.catalogs import listing

    try:
        m = manifest_mod.load_manifest(str(manifest)) if manifest else None
        name, digest, cat = listing.read(catalog, manifest=m, insecure=insecure, auth_file=authfile)
        text = listing.lines(cat, package)
    except MirrorsyncError as exc:
        fail(exc)
        return
    typer.echo(f"{name}@{digest}")
    for line in text:
        typer.echo(line)
