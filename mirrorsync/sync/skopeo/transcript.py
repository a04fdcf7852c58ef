"""What one skopeo process said it did, parsed from its ``--debug`` log (``Transcript``), and its text made fit
for a report (``clean_message``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_KEEP_LINES = 20  # non-debug stderr lines kept to explain a failure without a fatal message

_LOG_LINE = re.compile(r'level=(?P<level>\w+)\s+msg="(?P<msg>(?:[^"\\]|\\.)*)"')
_UPLOADED = re.compile(r"^Upload of layer (\S+:[0-9a-f]+) complete")
_SKIPPED = re.compile(r"^Skipping blob (\S+:[0-9a-f]+) \(already present\)")
_MOUNTING = re.compile(r"^Trying to mount \S*[?&]mount=(\w+)(?:%3A|:)([0-9a-f]+)")
_DOWNLOADING = re.compile(r"^Downloading /v2/\S+/blobs/(\S+:[0-9a-f]+)")
_MANIFEST_PUT = re.compile(r"^PUT \S+/v2/\S+/manifests/(\S+)")
_MANIFEST_FAILED = re.compile(r"^Upload of manifest (?:list )?type \S+ failed: (.+)")
_URL_QUERY = re.compile(r"(https?://[^\s\"'?]+)\?[^\s\"']*")
# containers/image's choice among a source's mirrors and the source (docker_image_src.go newImageSource)
_TRYING = re.compile(r'^Trying to access "([^"]+)"')
_ACCESS_FAILED = re.compile(r'^Accessing "([^"]+)" failed')


def _go_string(quoted: str) -> str:
    """Undo logrus' quoting of a message (Go ``%q``, which is JSON for everything skopeo prints)."""
    try:
        return json.loads(f'"{quoted}"')
    except ValueError:
        return quoted.replace('\\"', '"').replace("\\\\", "\\")


def clean_message(text: str) -> str:
    """One line of skopeo's text fit for a report: no upload session state from URLs, no line breaks."""
    text = _URL_QUERY.sub(r"\1?…", text)
    return " ".join(text.split())


@dataclass
class Transcript:
    """What one skopeo process said it did, parsed from its ``--debug`` stderr as it arrives."""

    uploaded: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    mount_tried: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)
    manifests_put: set[str] = field(default_factory=set)  # the tags and digests it sent a manifest PUT for
    fatal: str | None = None
    manifest_failed: str | None = None  # why the last manifest PUT failed (skopeo logs it only at debug level)
    tail: list[str] = field(default_factory=list)  # the last non-debug lines, for failures without a fatal line
    accessed: str | None = None  # the source location (a mirror's or the source's reference) it read from

    @property
    def read_from(self) -> str | None:
        """``host/path`` of the location the image was read from, as the report's ``readFrom`` names it."""
        if self.accessed is None:
            return None
        name = self.accessed.split("@", 1)[0]
        host, _, path = name.partition("/")
        return f"{host}/{path.rsplit(':', 1)[0]}" if path else name

    def feed(self, line: str) -> None:
        """Take one stderr line."""
        m = _LOG_LINE.search(line)
        if not m:
            if line.strip():
                self._keep(line.strip())
            return
        level, msg = m.group("level"), _go_string(m.group("msg"))
        if level == "debug":
            if mm := _UPLOADED.match(msg):
                self.uploaded.add(mm.group(1))
            elif mm := _SKIPPED.match(msg):
                self.skipped.add(mm.group(1))
            elif mm := _MOUNTING.match(msg):
                self.mount_tried.add(f"{mm.group(1)}:{mm.group(2)}")
            elif mm := _DOWNLOADING.match(msg):
                self.downloaded.add(mm.group(1))
            elif mm := _MANIFEST_PUT.match(msg):
                self.manifests_put.add(mm.group(1))
            elif mm := _MANIFEST_FAILED.match(msg):
                self.manifest_failed = mm.group(1)
            elif mm := _TRYING.match(msg):
                self.accessed = mm.group(1)
            elif (mm := _ACCESS_FAILED.match(msg)) and mm.group(1) == self.accessed:
                self.accessed = None
            return
        if level in ("fatal", "error", "panic"):
            self.fatal = msg
        self._keep(msg)

    def _keep(self, text: str) -> None:
        self.tail.append(text)
        del self.tail[:-_KEEP_LINES]
