"""A chart repository's ``index.yaml``: which versions of each chart it has, where their archives are, and their
digests (checked against the archive read).

The format is Helm's ``repo.IndexFile``: ``apiVersion: v1``, ``entries`` mapping each chart name to its versions,
each with ``version``, ``urls`` (relative to the index's URL or absolute), ``digest`` (the archive's SHA-256 in hex)
and ``created``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import yaml

from .archive import ChartError

MAX_INDEX_BYTES = 64 << 20  # the largest public indexes are tens of MiB
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class NotAnIndex(ChartError):
    """The document at a repository's URL is no chart index."""


@dataclass(frozen=True)
class ChartVersion:
    name: str
    version: str
    url: str  # absolute
    digest: str | None  # sha256:<hex>, when the index gives one
    created: str | None


def parse(data: bytes, index_url: str) -> dict[str, list[ChartVersion]]:
    """Every chart of the index, its versions in the index's order; ``NotAnIndex`` for anything else."""
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=_Loader)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise NotAnIndex(f"{index_url} is not a chart index (no YAML: {str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), dict) or "apiVersion" not in doc:
        raise NotAnIndex(f"{index_url} is not a chart index (no apiVersion and entries mapping)")
    out: dict[str, list[ChartVersion]] = {}
    for name, versions in doc["entries"].items():
        if not isinstance(versions, list):
            raise NotAnIndex(f"{index_url} is not a chart index (entries.{name} is no list)")
        listed = out.setdefault(str(name), [])
        for v in versions:
            if not isinstance(v, dict) or not v.get("version") or not isinstance(v.get("urls"), list) \
                    or not v["urls"]:
                continue  # an entry helm could not pull either
            digest = v.get("digest")
            listed.append(ChartVersion(str(name), str(v["version"]), urljoin(index_url, str(v["urls"][0])),
                                       f"sha256:{digest}" if isinstance(digest, str) and digest else None,
                                       str(v["created"]) if v.get("created") else None))
    return out
