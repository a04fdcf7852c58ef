"""An oc-mirror ``ImageSetConfiguration`` (``mirror.openshift.io/v1alpha2`` or ``v2alpha1``) as a manifest:
additional images less the blocked ones, the platform channels and releases, the operator catalogs, the Helm
charts."""

from __future__ import annotations

import re
from typing import Any

from .. import linear_regex
from ..registry import reference
from ..yamlsource import base_dir, local_path
from .conversion import Conversion
from .located import Reader

ISC_KIND = "ImageSetConfiguration"
ISC_API_VERSIONS = ("mirror.openshift.io/v1alpha2", "mirror.openshift.io/v2alpha1")
# oc-mirror v2 takes image names with a containers/image transport; a registry's is the one a manifest can mirror
_DOCKER = "docker://"
_OCI = "oci://"  # an operator catalog in an OCI layout on disk (oc-mirror v2's operators[].catalog)
# containers/image's other transports; a name such as alpine:3.19 is a registry image, not a transport
_TRANSPORT = re.compile(r"^(oci|oci-archive|dir|docker-archive|docker-daemon|containers-storage|sif|tarball|ostree):")


class ImageSet(Reader):
    def image_name(self, value: Any, path: tuple) -> str:
        """An image name as oc-mirror takes it: ``docker://`` before it or not; other transports are refused."""
        name = self.string(value, path)
        if name.startswith(_DOCKER):
            return name[len(_DOCKER):]
        transport = _TRANSPORT.match(name)
        if transport and not name[transport.end():transport.end() + 1].isdigit():  # oci:5000/x is a host and port
            raise self.fail(path, f"the {transport.group(1)}: transport is not supported here: only registry "
                                  f"images ({_DOCKER}HOST/PATH or HOST/PATH)")
        return name

    def convert(self) -> Conversion:
        top = self.doc.data
        api = top.get("apiVersion")
        if api not in ISC_API_VERSIONS:
            raise self.fail(("apiVersion",), f"unsupported ImageSetConfiguration version {api!r} (convert reads "
                                             f"{', '.join(ISC_API_VERSIONS)})")
        for key in top:
            if key == "archiveSize":
                self.note((key,), "use `mirrorsync export --archive-size SIZE` for archives of a bounded size")
            elif key == "storageConfig":
                self.note((key,), "mirrorsync keeps no metadata image: what a run did is its report.json")
            elif key not in ("apiVersion", "kind", "mirror"):
                self.note((key,), "no equivalent in a sync manifest")
        mirror = self.mapping(top.get("mirror"), ("mirror",))
        for key in mirror:
            if key == "platform":
                self.came_from(("platform",), ("mirror", key))
                self.out.platform = self._platform(mirror[key], ("mirror", key))
            elif key == "operators":
                self.came_from(("operators",), ("mirror", key))
                self.out.operators = self._operators(mirror[key], api)
            elif key == "helm":
                self.came_from(("charts",), ("mirror", key))
                self.out.charts = self._helm(mirror[key], ("mirror", key))
            elif key == "samples":
                self.note(("mirror", key), "not supported by mirrorsync yet: mirror these with oc-mirror")
            elif key not in ("additionalImages", "blockedImages"):
                self.note(("mirror", key), "no equivalent in a sync manifest")
        blocked = self._blocked(mirror.get("blockedImages"), api)
        additional = mirror.get("additionalImages") or []
        if not isinstance(additional, list):
            raise self.fail(("mirror", "additionalImages"), "must be a list of {name: IMAGE}")
        by_source: dict[str, dict[str, Any]] = {}
        came_from: dict[str, dict[tuple[str, str], tuple]] = {}  # source -> (tags|digests, value) -> input path
        for i, item in enumerate(additional):
            path = ("mirror", "additionalImages", i)
            item = self.mapping(item, path)
            ref = self.ref(self.image_name(item.get("name"), path + ("name",)), path + ("name",))
            for key in item:
                if key != "name":
                    self.note(path + (key,), "no equivalent in a sync manifest")
            blocker = next((b for b in blocked if b[1](ref)), None)
            if blocker is not None:
                self.note(path + ("name",), f"{ref} left out: blocked by mirror.blockedImages[{blocker[0]}]")
                continue
            entry = by_source.setdefault(ref.name, {"source": ref.name})
            # oc-mirror takes latest when a name has neither tag nor digest
            kind, value = ("digests", ref.digest) if ref.digest else ("tags", ref.tag or "latest")
            entry.setdefault(kind, []).append(value)
            came_from.setdefault(ref.name, {}).setdefault((kind, value), path + ("name",))
        for index, _ in blocked:
            if not any(n.endswith(f"blocked by mirror.blockedImages[{index}]") for _, n in self.out.notes):
                self.note(("mirror", "blockedImages", index), "blocks no additional image; mirrorsync does not "
                                                                "apply it to platform or operator images")
        self.out.images = [{k: (list(dict.fromkeys(v)) if isinstance(v, list) else v) for k, v in e.items()}
                           for e in by_source.values()]
        for index, entry in enumerate(self.out.images):
            paths = came_from[entry["source"]]
            self.came_from(("images", index), next(iter(paths.values())))
            for kind in ("tags", "digests"):
                for j, value in enumerate(entry.get(kind, [])):
                    self.came_from(("images", index, kind, j), paths[(kind, value)])
        if not self.out.images and self.out.platform is None and not self.out.operators and not self.out.charts:
            raise self.fail(("mirror",), "no mirror.additionalImages, mirror.platform, mirror.operators or "
                                         "mirror.helm to mirror (the sections convert carries over)")
        return self.out

    def _platform(self, value: Any, path: tuple) -> dict[str, Any] | None:
        """oc-mirror's ``platform`` as the manifest's (the same names); what has no equivalent is a note."""
        out: dict[str, Any] = {}
        for key, item in self.mapping(value, path).items():
            where = path + (key,)
            if key == "architectures":
                out[key] = item
                self.came_from(("platform", key), where)
            elif key == "channels":
                out[key] = []
                for i, ch in enumerate(item if isinstance(item, list) else []):
                    self.came_from(("platform", key, i), where + (i,))
                    out[key].append(self._channel(ch, where + (i,)))
            elif key == "release":  # v2alpha1: one release image named directly
                self.came_from(("platform", "releases", 0), where)
                out.setdefault("releases", []).append(self.image_name(item, where))
            elif key == "graph":  # oc-mirror's graph-data image over ubi9, from the public graph data: the defaults
                if item is True:
                    out[key] = True
                    self.came_from(("platform", key), where)
                elif item is not False:
                    self.note(where, "not true or false: no graph-data image")
            elif key == "kubeVirtContainer":  # the same name and meaning; the manifest's loader checks the value
                out[key] = item
                self.came_from(("platform", key), where)
            else:
                self.note(where, "no equivalent in a sync manifest")
        if not out.get("channels"):
            out.pop("channels", None)
        return out if out.get("channels") or out.get("releases") else None

    def _channel(self, value: Any, path: tuple) -> dict[str, Any]:
        """A channel as the manifest's: the same names and meaning, ``type: okd`` (OKD's update service) and
        ``full`` included; the manifest's loader checks each value, at this file's line."""
        channel = self.mapping(value, path)
        out: dict[str, Any] = {}
        for key, item in channel.items():
            if key in ("name", "minVersion", "maxVersion", "shortestPath", "type", "full"):
                out[key] = item
            else:
                self.note(path + (key,), "no equivalent in a sync manifest")
        return out

    def _operators(self, value: Any, api: str) -> list[dict[str, Any]]:
        """``mirror.operators`` as the manifest's ``operators``: the same names and meaning (oc-mirror v2's);
        keys with no equivalent are comments."""
        if not isinstance(value, list):
            raise self.fail(("mirror", "operators"), "must be a list of catalogs")
        out = []
        for i, item in enumerate(value):
            path = ("mirror", "operators", i)
            entry = self._keep(self.mapping(item, path), path, ("catalog", "full", "targetCatalog", "targetTag"))
            if isinstance(entry.get("catalog"), str):
                entry["catalog"] = self._catalog(entry["catalog"], path + ("catalog",))
            self.came_from(("operators", len(out)), path)
            packages = []
            for j, pkg in enumerate(item.get("packages") or []):
                ppath = path + ("packages", j)
                kept = self._keep(self.mapping(pkg, ppath), ppath,
                                  ("name", "defaultChannel", "minVersion", "maxVersion"))
                channels = [self._keep(self.mapping(ch, ppath + ("channels", k)), ppath + ("channels", k),
                                       ("name", "minVersion", "maxVersion"))
                            for k, ch in enumerate(pkg.get("channels") or [])]
                packages.append({**kept, **({"channels": channels} if channels else {})})
            if packages:
                entry["packages"] = packages
            if api.endswith("v1alpha2"):
                self.note(path, "dependencies of kept bundles are added only with resolveDependencies: true "
                                "(oc-mirror v2's behaviour)")
            out.append(entry)
        return out

    def _helm(self, value: Any, path: tuple) -> dict[str, Any] | None:
        """``mirror.helm`` as the manifest's ``charts``: ``repositories[]`` (``name``, ``url``, ``charts[]`` of
        ``name``/``version``) and ``local[]`` (``path``, relative to the ImageSetConfiguration's directory, written
        absolute). oc-mirror's ``imagePaths`` are JSONPaths into the rendered manifests, not value paths: a
        note (mirrorsync reads the usual value paths, and renders with helm where it is on PATH)."""
        out: dict[str, Any] = {}
        helm = self.mapping(value, path)
        for key in helm:
            if key not in ("repositories", "local"):
                self.note(path + (key,), "no equivalent in a sync manifest")
        repositories = []
        for i, repo in enumerate(helm.get("repositories") or []):
            rpath = path + ("repositories", i)
            kept = self._keep(self.mapping(repo, rpath), rpath, ("name", "url"))
            charts = []
            for j, chart in enumerate(repo.get("charts") or [] if isinstance(repo, dict) else []):
                cpath = rpath + ("charts", j)
                chart = self._chart_keys(self.mapping(chart, cpath), cpath, ("name", "version"))
                entry = {k: str(chart[k]) if isinstance(chart[k], (int, float)) and not isinstance(chart[k], bool)
                         else chart[k] for k in ("name", "version") if k in chart}
                self.came_from(("charts", "repositories", len(repositories), "charts", len(charts)), cpath)
                charts.append(entry)
            self.came_from(("charts", "repositories", len(repositories)), rpath)
            repositories.append({**kept, "charts": charts})
        local = []
        base = base_dir(self.doc.file)
        for i, item in enumerate(helm.get("local") or []):
            lpath = path + ("local", i)
            item = self._chart_keys(self.mapping(item, lpath), lpath, ("name", "path"))
            chart_path = self.string(item.get("path"), lpath + ("path",))
            self.came_from(("charts", "local", len(local)), lpath)
            local.append({"path": local_path(base, chart_path)})
        if repositories:
            out["repositories"] = repositories
        if local:
            out["local"] = local
        if not out:
            self.note(path, "names no repositories or local charts: no charts section")
        return out or None

    def _chart_keys(self, item: dict, path: tuple, keys: tuple[str, ...]) -> dict:
        """A note for each key of a chart entry besides ``keys``; ``item`` as it is."""
        for key in item:
            if key == "imagePaths":
                self.note(path + (key,), "oc-mirror's JSONPaths into rendered manifests: give the value paths that "
                                         "hold images as the chart's imagePaths (dotted)")
            elif key not in keys:
                self.note(path + (key,), "no equivalent in a sync manifest")
        return item

    def _catalog(self, name: str, path: tuple) -> str:
        """A catalog image, or ``oci://DIR``: a layout on disk, relative to the ImageSetConfiguration's directory,
        written as an absolute path so that the manifest finds it wherever it is written."""
        if not name.startswith(_OCI):
            return self.image_name(name, path)
        rest = name[len(_OCI):]
        if not rest:
            raise self.fail(path, f"{name!r}: expected oci:///path/to/layout (a directory holding an OCI layout)")
        return _OCI + local_path(base_dir(self.doc.file), rest)

    def _keep(self, item: dict, path: tuple, keys: tuple[str, ...]) -> dict[str, Any]:
        nested = {"packages", "channels"}
        for key in item:
            if key not in keys and key not in nested:
                self.note(path + (key,), "no equivalent in a sync manifest")
        return {k: str(item[k]) if isinstance(item[k], (int, float)) and not isinstance(item[k], bool) else item[k]
                for k in keys if k in item}

    def _blocked(self, value: Any, api: str) -> list[tuple[int, Any]]:
        """(index, predicate) per blockedImages entry. v1alpha2 blocks by image name (``alpine`` blocks
        docker.io/library/alpine); v2alpha1 also takes full references and regular expressions."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(("mirror", "blockedImages"), "must be a list of {name: IMAGE}")
        out = []
        for i, item in enumerate(value):
            path = ("mirror", "blockedImages", i)
            name = self.string(self.mapping(item, path).get("name"), path + ("name",))
            name = name[len(_DOCKER):] if name.startswith(_DOCKER) else name

            def blocks(ref: reference.Reference, name=name) -> bool:
                if name in (str(ref), ref.name, ref.repository, ref.repository.rsplit("/", 1)[-1]):
                    return True
                if api.endswith("v2alpha1"):
                    try:
                        return linear_regex.search(name, str(ref))  # oc-mirror's Go regexp
                    except linear_regex.RegexError:
                        return False
                return False

            out.append((i, blocks))
        return out
