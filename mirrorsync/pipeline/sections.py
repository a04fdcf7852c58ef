"""Every section of a manifest, listed once. A new section is one folder and one line here."""

from __future__ import annotations

from ..charts.section import ChartsSection
from ..openshift import cluster_image_policies
from ..openshift.catalogs.section import CatalogsSection
from ..openshift.releases.section import ReleasesSection
from ..sync import manifest as manifest_mod
from ..sync.images import ImagesSection
from ..sync.manifest import SyncManifest
from ..sync.section import Section
from .source_mirrors import pull_config

IMAGES = ImagesSection()
# the sections besides the images, in the order they are planned, finished and written into the report
PLUGGED: tuple[Section, ...] = (
    ReleasesSection(),  # platform: OpenShift releases
    CatalogsSection(),  # operators: operator catalogs
    ChartsSection(),  # charts: Helm charts
)
ALL: tuple[Section, ...] = (IMAGES, *PLUGGED)


def load_manifest(path: str, *, reads_sources: bool = True, max_nested_paths: int | None = None) -> SyncManifest:
    """Load and validate a sync manifest file with every section (and, for a run that ``reads_sources``, the
    source mirrors it names: an import reads its layout, and the export's manifest names them on the other side);
    ``max_nested_paths`` (``--max-nested-paths``): every mirror's depth limit, over what its ``registries``
    settings say."""
    manifest = manifest_mod.load(path, PLUGGED, max_nested_paths=max_nested_paths)
    return _checked(manifest) if reads_sources else manifest


def parse_manifest(text: str, file: str = "<manifest>") -> SyncManifest:
    """Validate a sync manifest given as YAML text, with every section (and the source mirrors it names)."""
    return _checked(manifest_mod.parse(text, file, PLUGGED))


def _checked(manifest: SyncManifest) -> SyncManifest:
    pull_config(manifest)  # a broken sourceMirrors is bad input at its line, before anything is read
    return manifest


def owned_files() -> tuple[str, ...]:
    """The cluster-resources files the sections may write, besides the mirror sets (and the ClusterImagePolicies
    of a signature policy)."""
    return tuple(name for section in ALL for name in section.owned_files) + (cluster_image_policies.FILENAME,)
