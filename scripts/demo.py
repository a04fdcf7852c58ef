"""The demo behind scripts/demo: a real sync between two real registries, ending in mirror sets.

Everything is local: registries on 127.0.0.1:15000 (source) and :15001 (mirror), images generated here. A port
that is taken gives way to a free one (the demo then runs a copy of the manifest naming it);
MIRRORSYNC_DEMO_SOURCE_PORT / MIRRORSYNC_DEMO_MIRROR_PORT fix them (devtools/demo_ports.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools/ is not installed

from devtools import demo_ports, samples  # noqa: E402
from devtools.devregistry import DevRegistryError, start_registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "configs" / "demo.yaml"
OUT = ROOT / "out" / "demo"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    print("$", " ".join(args), flush=True)
    return subprocess.run(args, check=check)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="mirrorsync-demo-"))
    registries = []
    try:
        try:
            source = start_registry(work / "source", port=demo_ports.chosen_port("source"))
            registries.append(source)
            mirror = start_registry(work / "mirror", port=demo_ports.chosen_port("mirror"))
            registries.append(mirror)
        except (demo_ports.PortError, DevRegistryError) as exc:
            print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        print(f"source registry {source.host}, mirror registry {mirror.host}")
        manifest = demo_manifest(source.host, mirror.host)

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
        sh(mirrorsync, "plan", manifest)
        result = sh(mirrorsync, "run", manifest, "--output-dir", str(OUT.relative_to(ROOT)), check=False)
        if result.returncode != 0:
            print(f"mirrorsync run exited {result.returncode}", file=sys.stderr)
            return result.returncode
        for cr in sorted((OUT / "cluster-resources").iterdir()):
            print(f"\n--- {cr.relative_to(ROOT)}")
            print(cr.read_text(), end="")

        print("\nA second run changes nothing and copies nothing:")
        sh(mirrorsync, "run", manifest, "--output-dir", str(OUT.relative_to(ROOT)))
        return prove_pull_through_mirror(mirrorsync, source, mirror.host)
    finally:
        for r in registries:
            r.stop()
        shutil.rmtree(work, ignore_errors=True)


def demo_manifest(source_host: str, mirror_host: str) -> str:
    """configs/demo.yaml when the registries got its ports, else a copy naming theirs (beside the output)."""
    hosts = {"source": source_host, "mirror": mirror_host}
    if all(host == f"127.0.0.1:{demo_ports.DEFAULT_PORTS[role]}" for role, host in hosts.items()):
        return str(MANIFEST.relative_to(ROOT))
    copy = OUT.parent / "demo.yaml"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(demo_ports.manifest_for(MANIFEST.read_text(), hosts))
    print(f"(ports other than configs/demo.yaml's: running {copy.relative_to(ROOT)}, its copy naming them)")
    return str(copy.relative_to(ROOT))


def prove_pull_through_mirror(mirrorsync: str, source, mirror_host: str) -> int:
    """Render the registries.conf MCO would write, stop the source, and let skopeo pull by digest through it."""
    import json

    conf = OUT / "registries.conf"
    # the demo mirror speaks plain HTTP: on a cluster that is image.config.openshift.io insecureRegistries
    rendered = subprocess.run([mirrorsync, "registries-conf", str(OUT), "--insecure", mirror_host,
                               "--output", str(conf)])
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
