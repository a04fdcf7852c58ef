"""The demo behind scripts/demo: a real sync between two real registries, ending in mirror sets.

Everything is local: registries on 127.0.0.1:15000 (source) and :15001 (mirror), images generated here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools/ is not installed

from devtools import samples  # noqa: E402
from devtools.devregistry import start_registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "configs" / "demo.yaml"
OUT = ROOT / "out" / "demo"
SOURCE_PORT, MIRROR_PORT = 15000, 15001


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    print("$", " ".join(args), flush=True)
    return subprocess.run(args, check=check)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="mirrorsync-demo-"))
    registries = []
    try:
        source = start_registry(work / "source", port=SOURCE_PORT)
        registries.append(source)
        mirror = start_registry(work / "mirror", port=MIRROR_PORT)
        registries.append(mirror)
        print(f"source registry {source.host}, mirror registry {mirror.host}")

        with samples.SamplePusher(source.host, insecure=True) as pusher:
            for tag in ("v1.0", "v1.1"):
                samples.push_image(pusher, "demo/app", tag, kind="oci-index", layers=3, layer_size=256 * 1024)
            for tag in ("v1.0", "v1.1-rc", "v2.0"):
                samples.push_image(pusher, "demo/tools", tag, kind="docker-list", layer_size=64 * 1024)
            samples.push_image(pusher, "demo/base", "v1", kind="oci", arches=("amd64",), layer_size=128 * 1024)
        print("seeded demo/app (OCI index), demo/tools (Docker manifest list), demo/base (single image)\n")

        if OUT.exists():
            shutil.rmtree(OUT)
        mirrorsync = str(ROOT / ".venv" / "bin" / "mirrorsync")
        sh(mirrorsync, "plan", str(MANIFEST.relative_to(ROOT)))
        result = sh(mirrorsync, "run", str(MANIFEST.relative_to(ROOT)), "--output-dir", str(OUT.relative_to(ROOT)),
                    check=False)
        if result.returncode != 0:
            print(f"mirrorsync run exited {result.returncode}", file=sys.stderr)
            return result.returncode
        for cr in sorted((OUT / "cluster-resources").iterdir()):
            print(f"\n--- {cr.relative_to(ROOT)}")
            print(cr.read_text(), end="")

        print("\nA second run changes nothing and copies nothing:")
        sh(mirrorsync, "run", str(MANIFEST.relative_to(ROOT)), "--output-dir", str(OUT.relative_to(ROOT)))
        return prove_pull_through_mirror(mirrorsync, source)
    finally:
        for r in registries:
            r.stop()
        shutil.rmtree(work, ignore_errors=True)


def prove_pull_through_mirror(mirrorsync: str, source) -> int:
    """Render the registries.conf MCO would write, stop the source, and let skopeo pull by digest through it."""
    import json

    conf = OUT / "registries.conf"
    # the demo mirror speaks plain HTTP: on a cluster that is image.config.openshift.io insecureRegistries
    rendered = subprocess.run([mirrorsync, "registries-conf", str(OUT), "--insecure", f"127.0.0.1:{MIRROR_PORT}",
                               "-o", str(conf)])
    if rendered.returncode != 0:
        return rendered.returncode
    report = json.loads((OUT / "report.json").read_text())
    image = next(i for i in report["images"] if i["source"].endswith("/demo/app"))
    ref = f"{image['source']}@{image['digest']}"
    source.stop()
    print(f"\nSource registry stopped. A node with this registries.conf pulls {ref} from the mirror:")
    resolved = subprocess.run([mirrorsync, "resolve", ref, str(OUT)], check=False)
    inspect = subprocess.run(["skopeo", "--registries-conf", str(conf), "inspect", "--raw",
                              f"docker://{ref}"], capture_output=True)
    if inspect.returncode != 0:
        print(inspect.stderr.decode(errors="replace"), file=sys.stderr)
        return 1
    import hashlib

    got = "sha256:" + hashlib.sha256(inspect.stdout).hexdigest()
    print(f"skopeo got {got} through the mirror ({'matches' if got == image['digest'] else 'DOES NOT MATCH'})")
    return 0 if got == image["digest"] and resolved.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
