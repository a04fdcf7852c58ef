"""mirrorsync vs skopeo sync, measured side by side on this machine. See BENCHMARKS.md for recorded numbers.

Every scenario generates its corpus locally, starts its own docker-registry processes on 127.0.0.1, and times
each tool several times on the same work (a fresh mirror registry for every cold run), printing medians and the
ratios mirrorsync/skopeo. Nothing here is part of CI.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools/ is not installed

from devtools import openshift, samples, storage_seed  # noqa: E402
from devtools.devregistry import LocalRegistry, start_registry  # noqa: E402
from mirrorsync.oci.content import ACCEPT  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIRRORSYNC = [str(ROOT / ".venv" / "bin" / "python"), "-m", "mirrorsync"]


@dataclass
class Corpus:
    registry: LocalRegistry
    images: dict[str, list[str]]  # repository -> tags
    unique_blob_bytes: int
    host: str = ""  # where the tools reach the source: the registry itself, or the WAN relay in front of it
    list_tags: bool = False  # the manifest selects every tag from the tag list (allTags) instead of naming them

    def __post_init__(self) -> None:
        self.host = self.host or self.registry.host


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    network: list[dict] = field(default_factory=list)  # per run, with a WAN relay: its CPU and counters

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class WanRelay:
    """``devtools/wan_relay.py`` in its own process in front of one registry: the source is a WAN away."""

    def __init__(self, target: LocalRegistry, rtt_ms: float, mbit: float) -> None:
        self.target = target
        self.rtt_ms, self.mbit = rtt_ms, mbit
        self.process = subprocess.Popen([sys.executable, "-m", "devtools.wan_relay", "--target", str(target.port),
                                         "--rtt-ms", str(rtt_ms), "--mbit", str(mbit)],
                                        cwd=ROOT, stdout=subprocess.PIPE, text=True)
        ports = json.loads(self.process.stdout.readline())
        self.host = f"127.0.0.1:{ports['port']}"
        self.control = ports["control"]

    def snapshot(self) -> dict:
        """The relay's CPU seconds (user + system, from /proc), its counters, and the requests the source
        registry logged (one access-log line each)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with socket.create_connection(("127.0.0.1", self.control)) as sock:
            counters = json.loads(sock.makefile().readline())
        return {"relay_cpu_s": cpu, **counters, "source_requests": logged_requests(self.target),
                "log_bytes": self.target.access_log_path.stat().st_size}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


class Bench:
    def __init__(self, work: Path, runs: int, rtt_ms: float = 40.0, mbit: float = 200.0) -> None:
        self.work = work
        self.runs = runs
        self.rtt_ms, self.mbit = rtt_ms, mbit
        self.registries: list[LocalRegistry] = []
        self.relays: list[WanRelay] = []
        self.results: dict[str, dict] = {}
        self._n = 0
        self._relay: WanRelay | None = None  # the relay of the corpus being timed
        self.last_network: dict | None = None

    def registry(self, name: str) -> LocalRegistry:
        self._n += 1
        r = start_registry(self.work / f"{name}-{self._n}")
        self.registries.append(r)
        return r

    def drop(self, r: LocalRegistry) -> None:
        if self._relay is not None and self._relay.target is r:
            self._relay.stop()
            self.relays.remove(self._relay)
            self._relay = None
        r.stop()
        shutil.rmtree(r.root.parent, ignore_errors=True)
        self.registries.remove(r)

    def close(self) -> None:
        for relay in self.relays:
            relay.stop()
        for r in list(self.registries):
            r.stop()

    def behind_wan(self, corpus: Corpus) -> Corpus:
        """Put the corpus's source registry a WAN away: every tool reaches it through a shaping relay."""
        relay = WanRelay(corpus.registry, self.rtt_ms, self.mbit)
        self.relays.append(relay)
        self._relay = relay
        corpus.host = relay.host
        return corpus

    def timed(self, argv: list[str]) -> tuple[float, int]:
        """``timed``, and with a WAN relay what it saw during the run (``last_network``)."""
        before = self._relay.snapshot() if self._relay else None
        result = timed(argv)
        if before is not None:
            after = self._relay.snapshot()
            self.last_network = {k: after[k] - before[k] for k in after}
            self.last_network["kinds"] = request_kinds(self._relay.target, before["log_bytes"], after["log_bytes"])
        return result

    def note_network(self, t: Timing) -> None:
        if self._relay is not None and self.last_network is not None:
            t.network.append(self.last_network)

    # --- corpora --------------------------------------------------------------------------------------------------

    def corpus(self, *, repos: int, tags: int, arches: tuple[str, ...], layers: int, layer_size: int,
               kind: samples.Kind) -> Corpus:
        src = self.registry("source")
        jobs = [(f"bench/repo-{r}", f"v{t}") for r in range(1, repos + 1) for t in range(1, tags + 1)]
        lock = threading.Lock()
        blobs: set[str] = set()
        local = threading.local()

        def push(job: tuple[str, str]) -> None:
            if not hasattr(local, "pusher"):
                local.pusher = samples.SamplePusher(src.host, insecure=True)
            img = samples.push_image(local.pusher, job[0], job[1], kind=kind, arches=arches, layers=layers,
                                     layer_size=layer_size, seed=1)
            with lock:
                blobs.update(img.blobs)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(push, jobs))
        size = sum(self.blob_path(src, d).stat().st_size for d in blobs)
        images: dict[str, list[str]] = {}
        for repo, tag in jobs:
            images.setdefault(repo, []).append(tag)
        return Corpus(src, images, size)

    @staticmethod
    def blob_path(r: LocalRegistry, digest: str) -> Path:
        hex_ = digest.split(":", 1)[1]
        return r.root / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex_[:2] / hex_ / "data"

    # --- tools ----------------------------------------------------------------------------------------------------

    def manifest(self, corpus: Corpus, mirrors: list[LocalRegistry], name: str, engine: str = "native") -> Path:
        doc = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest",
               "mirrors": [f"{m.host}/bench-mirror" for m in mirrors],
               "registries": {h: {"tlsVerify": False} for h in [corpus.host, *(m.host for m in mirrors)]},
               "options": {"engine": engine},
               "images": [{"source": f"{corpus.host}/{repo}", **({"allTags": True} if corpus.list_tags else
                                                                  {"tags": tags})}
                          for repo, tags in corpus.images.items()]}
        path = self.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    def skopeo_yaml(self, corpus: Corpus) -> Path:
        path = self.work / "skopeo-sync.yaml"
        path.write_text(yaml.safe_dump({corpus.host: {"tls-verify": False, "images": corpus.images}}))
        return path

    def mirrorsync(self, corpus: Corpus, mirrors: list[LocalRegistry], engine: str,
                   out_name: str = "") -> tuple[float, int, dict]:
        """One timed ``mirrorsync run``; ``out_name`` keeps a corpus's output directory (and so the previous report
        a run reads) apart from another's."""
        manifest = self.manifest(corpus, mirrors, f"ms-{engine}", engine)
        out = self.work / f"out-{engine}{out_name}"
        seconds, rss = self.timed([*MIRRORSYNC, "run", str(manifest), "--output-dir", str(out)])
        report = json.loads((out / "report.json").read_text())
        if report["status"] != "Succeeded":
            raise SystemExit(f"mirrorsync {engine} run did not succeed: {report['status']}")
        return seconds, rss, report["totals"]

    def skopeo_sync(self, corpus: Corpus, mirror: LocalRegistry) -> tuple[float, int]:
        return self.timed(["skopeo", "sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false", "--all",
                      "--preserve-digests", str(self.skopeo_yaml(corpus)), f"{mirror.host}/bench-mirror"])

    def floor(self, corpus: Corpus) -> float:
        """Upload the corpus's unique blobs from local files with parallel monolithic PUTs: what the registry
        itself can ingest here, a floor no copying tool can beat."""
        blob_dir = corpus.registry.root / "docker" / "registry" / "v2" / "blobs" / "sha256"
        files = [p for p in blob_dir.glob("*/*/data")]
        mirror = self.registry("floor")
        client = httpx.Client(base_url=mirror.url, timeout=120,
                              limits=httpx.Limits(max_connections=16, max_keepalive_connections=16))

        def put(path: Path) -> None:
            digest = "sha256:" + path.parent.name
            loc = client.post("/v2/floor/blobs/uploads/").headers["Location"]
            sep = "&" if "?" in loc else "?"
            with path.open("rb") as f:
                r = client.put(f"{loc}{sep}digest={digest}", content=f.read(),
                               headers={"Content-Type": "application/octet-stream"})
            r.raise_for_status()

        os.sync()
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, files))
        seconds = time.monotonic() - start
        client.close()
        self.drop(mirror)
        return seconds

    # --- scenarios ------------------------------------------------------------------------------------------------

    def cold(self, name: str, corpus: Corpus, mirrors: int, engines: list[str]) -> None:
        rows: dict[str, Timing] = {}
        for _ in range(self.runs):
            for tool in ["skopeo-sync", *engines]:
                targets = [self.registry("mirror") for _ in range(mirrors)]
                t = rows.setdefault(tool, Timing())
                if tool == "skopeo-sync":
                    total = 0.0
                    for m in targets:  # skopeo sync knows one destination: run once per mirror
                        seconds, rss = self.skopeo_sync(corpus, m)
                        total += seconds
                    t.seconds.append(total)
                    t.rss_kib.append(rss)
                    self.note_network(t)
                else:
                    seconds, rss, totals = self.mirrorsync(corpus, targets, tool)
                    t.seconds.append(seconds)
                    t.rss_kib.append(rss)
                    self.note_network(t)
                    t.extra = {"bytesRead": totals["bytesRead"], "bytesSent": totals["bytesSent"]}
                for m in targets:
                    self.drop(m)
        if self._relay is not None:
            self.record(name, rows, corpus, floor=self.bandwidth_floor(corpus),
                        floor_text=f"(unique blob bytes / the relay's {self.mbit:g} Mbit/s cap)")
            return
        floor = statistics.median(self.floor(corpus) for _ in range(self.runs)) if mirrors == 1 else None
        self.record(name, rows, corpus, floor=floor)

    def signed_noop(self, name: str, corpus: Corpus) -> None:
        """What the signature gate costs a no-op re-sync: every image of the corpus signed (cosign's format, one
        ECDSA key), a policy that requires the signature, and no-op runs with and without it; the gate's row
        reuses the previous report's decisions (verified once, remembered by digest), the last row decides afresh
        each run (a new output directory)."""
        from devtools.cosign import Signer, sign

        signer = Signer(self.work / "cosign-key")
        local = threading.local()
        head = httpx.Client(base_url=corpus.registry.url, timeout=60, headers={"Accept": ACCEPT})

        def sign_one(job: tuple[str, str]) -> None:
            if not hasattr(local, "pusher"):
                local.pusher = samples.SamplePusher(corpus.host, insecure=True)
            digest = head.head(f"/v2/{job[0]}/manifests/{job[1]}").headers["Docker-Content-Digest"]
            sign(local.pusher, signer, job[0], digest)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(sign_one, [(r, t) for r, tags in corpus.images.items() for t in tags]))
        policy = self.work / "signature-policy.json"
        policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
            f"{corpus.host}/bench": [{"type": "sigstoreSigned", "keyPath": str(signer.pub),
                                      "signedIdentity": {"type": "matchRepository"}}]}}}))
        mirror = self.registry("mirror")
        plain = self.manifest(corpus, [mirror], "ms-unsigned")
        gated = self.work / "ms-signed.yaml"
        doc = yaml.safe_load(plain.read_text())
        doc["options"]["signaturePolicy"] = str(policy)
        gated.write_text(yaml.safe_dump(doc))

        def run(manifest: Path, out: Path, *, fill: bool = False) -> float:
            seconds, _ = self.timed([*MIRRORSYNC, "run", str(manifest), "--output-dir", str(out)])
            report = json.loads((out / "report.json").read_text())
            if report["status"] != "Succeeded" or (report["totals"]["bytesSent"] and not fill):
                raise SystemExit(f"signed no-op run: {report['status']} {report['totals']}")
            return seconds

        run(plain, self.work / "out-unsigned", fill=True)  # fill the mirror, and each output directory's report
        run(gated, self.work / "out-signed")
        rows: dict[str, list[float]] = {"no policy": [], "gate": [], "gate, nothing remembered": []}
        for n in range(self.runs):
            rows["no policy"].append(run(plain, self.work / "out-unsigned"))
            rows["gate"].append(run(gated, self.work / "out-signed"))
            rows["gate, nothing remembered"].append(run(gated, self.work / f"out-signed-fresh-{n}"))
        head.close()
        self.drop(mirror)
        base = statistics.median(rows["no policy"])
        print(f"\n== {name}  ({sum(len(t) for t in corpus.images.values())} images, {self.runs} run(s))")
        out = {}
        for label, seconds in rows.items():
            median = statistics.median(seconds)
            print(f"  {label:<26} median {median:7.2f} s  runs {', '.join(f'{s:.2f}' for s in seconds)}  "
                  f"ratio {median / base:5.2f}", flush=True)
            out[label] = {"seconds": seconds, "median": median, "ratio_vs_no_policy": median / base}
        self.results[name] = out

    def bandwidth_floor(self, corpus: Corpus) -> float:
        """No tool can move the corpus's unique blobs through the relay faster than its bandwidth cap."""
        return corpus.unique_blob_bytes * 8 / (self.mbit * 1e6)

    def noop(self, name: str, corpus: Corpus, engines: list[str]) -> None:
        mirror = self.registry("mirror")
        self.skopeo_sync(corpus, mirror)  # fill it once (skopeo sync's destination paths)
        self.mirrorsync(corpus, [mirror], "native")  # and mirrorsync's
        rows: dict[str, Timing] = {}
        for _ in range(self.runs):
            for tool in ["skopeo-sync", *engines]:
                t = rows.setdefault(tool, Timing())
                if tool == "skopeo-sync":
                    seconds, rss = self.skopeo_sync(corpus, mirror)
                else:
                    seconds, rss, totals = self.mirrorsync(corpus, [mirror], tool)
                    if totals["bytesSent"]:
                        raise SystemExit(f"no-op run of {tool} sent {totals['bytesSent']} bytes")
                t.seconds.append(seconds)
                t.rss_kib.append(rss)
                self.note_network(t)
        if self._relay is not None:  # the HEAD floor below is the registries' CPU; a WAN no-op waits on the network
            self.drop(mirror)
            self.record(name, rows, corpus)
            return
        floor = statistics.median(self.head_floor(corpus, mirror) for _ in range(self.runs))
        self.drop(mirror)
        self.record(name, rows, corpus, floor=floor,
                    floor_text="(the same manifest HEADs, source and mirror, from a bare http.client loop "
                               "with 8 threads and no process start)")

    @staticmethod
    def head_floor(corpus: Corpus, mirror: LocalRegistry) -> float:
        """What the two registries take to answer a no-op's requests (a HEAD of every tag on the source and on
        the mirror) with no tool around them: a floor for any no-op re-sync on this machine."""
        import http.client  # noqa: PLC0415 - only this floor uses it

        work = [(corpus.registry.host, f"/v2/{repo}/manifests/{tag}") for repo, tags in corpus.images.items()
                for tag in tags]
        work += [(mirror.host, f"/v2/bench-mirror/{repo}/manifests/{tag}") for repo, tags in corpus.images.items()
                 for tag in tags]
        lock = threading.Lock()
        it = iter(work)

        def worker() -> None:
            conns: dict[str, http.client.HTTPConnection] = {}
            while True:
                with lock:
                    item = next(it, None)
                if item is None:
                    return
                host, path = item
                conn = conns.setdefault(host, http.client.HTTPConnection(host, timeout=30))
                conn.request("HEAD", path, headers={"Accept": ACCEPT})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise SystemExit(f"floor: HEAD {host}{path} answered {response.status}")

        start = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - start

    def big_layer(self, name: str, size: int) -> None:
        src = self.registry("source")
        digest, blob_size = push_big_image(src, "bench/big", "v1", size, self.work)
        corpus = Corpus(src, {"bench/big": ["v1"]}, blob_size)
        rows: dict[str, Timing] = {}
        for _ in range(self.runs):
            for tool in ["skopeo-sync", "native"]:
                mirror = self.registry("mirror")
                t = rows.setdefault(tool, Timing())
                if tool == "skopeo-sync":
                    seconds, rss = self.skopeo_sync(corpus, mirror)
                else:
                    seconds, rss, _ = self.mirrorsync(corpus, [mirror], tool)
                t.seconds.append(seconds)
                t.rss_kib.append(rss)
                self.note_network(t)
                self.drop(mirror)
        self.drop(src)
        self.record(name, rows, corpus)

    def scale(self, sizes: list[tuple[int, int]], cold: bool) -> None:
        """mirrorsync alone (``skopeo sync`` would take most of an hour at 10,000 images) on corpora of tiny images
        written straight into the source's storage, tags selected from the tag list (``allTags``): time to plan,
        a cold run, no-op runs (interleaved between the sizes), peak RSS, and writing the report and CRs."""
        corpora: dict[int, tuple[Corpus, LocalRegistry]] = {}
        out: dict[str, dict] = {}
        for repos, tags in sizes:
            n = repos * tags
            corpus, seed_seconds = self.seeded_corpus(repos, tags)
            mirror = self.registry("mirror")
            corpora[n] = (corpus, mirror)
            manifest = self.manifest(corpus, [mirror], f"scale-{n}")
            plan_seconds = statistics.median(
                self.timed([*MIRRORSYNC, "plan", str(manifest), "--output", "json"])[0] for _ in range(self.runs))
            row = out.setdefault(f"{n} images", {"repositories": repos, "seed_seconds": seed_seconds,
                                                 "plan_seconds": plan_seconds, "noop_seconds": [],
                                                 "noop_rss_mb": []})
            seconds, rss, totals = self.mirrorsync(corpus, [mirror], "native", f"-{n}")  # fills the mirror
            if cold:
                row.update(cold_seconds=seconds, cold_rss_mb=rss / 1024, copied=totals["copied"])
            print(f"  {n} images: seeded in {seed_seconds:.1f} s, plan {plan_seconds:.2f} s, first run "
                  f"{seconds:.2f} s (peak RSS {rss / 1024:.1f} MB, {totals['copied']} copied)", flush=True)
        for _ in range(self.runs):
            for n, (corpus, mirror) in corpora.items():
                seconds, rss, totals = self.mirrorsync(corpus, [mirror], "native", f"-{n}")
                if totals["bytesSent"] or totals["upToDate"] != n:
                    raise SystemExit(f"no-op run of {n} images: {totals}")
                out[f"{n} images"]["noop_seconds"].append(seconds)
                out[f"{n} images"]["noop_rss_mb"].append(rss / 1024)
                out[f"{n} images"].update(self.write_outputs_seconds(self.work / f"out-native-{n}"))
        print(f"\n== scale: tiny images, tags listed (allTags), {self.runs} run(s)")
        for name, row in out.items():
            row["noop_median"] = statistics.median(row["noop_seconds"])
            print(f"  {name:<13} plan {row['plan_seconds']:6.2f} s  "
                  + (f"cold {row['cold_seconds']:7.2f} s (RSS {row['cold_rss_mb']:.1f} MB)  " if cold else "")
                  + f"no-op median {row['noop_median']:6.2f} s  runs "
                  + ", ".join(f"{x:.2f}" for x in row["noop_seconds"])
                  + f"  peak RSS {max(row['noop_rss_mb']):.1f} MB  report {row['report_write_s']:.3f} s "
                  + f"(CPU {row['report_write_cpu_s']:.3f} s)  CRs {row['crs_write_s']:.3f} s "
                  + f"(CPU {row['crs_write_cpu_s']:.3f} s)", flush=True)
        if len(out) > 1:
            small, big = sorted(out.values(), key=lambda r: r["repositories"])[::len(out) - 1]
            print(f"  no-op ratio largest/smallest {big['noop_median'] / small['noop_median']:.2f}")
        for corpus, mirror in corpora.values():
            self.drop(mirror)
            self.drop(corpus.registry)
        self.results["scale"] = out

    def seeded_corpus(self, repos: int, tags: int) -> tuple[Corpus, float]:
        """A source registry of ``repos`` × ``tags`` tiny images written into its storage (tags listed), and the
        seconds the writing took."""
        workdir = self.work / f"scale-source-{repos * tags}"
        start = time.monotonic()
        seeded = storage_seed.seed_tiny_images(workdir / "storage", repos=repos, tags=tags,
                                               workers=os.cpu_count() or 1)
        seed_seconds = time.monotonic() - start
        src = start_registry(workdir)
        self.registries.append(src)
        images: dict[str, list[str]] = {}
        for img in seeded:
            images.setdefault(img.repository, []).append(img.tag)
        return Corpus(src, images, storage_seed.blob_bytes(workdir / "storage"), list_tags=True), seed_seconds

    def hundred_k(self, images: int, reference: int, shards: int, single: bool) -> None:
        """Issue 34: ``images`` tiny images (5 tags a repository): plan, cold and no-op rows with peak RSS, the no-op
        against the ``reference``-image no-op of the same run (interleaved); and the same images cold as ``shards``
        parallel ``run --shard i/N`` processes into one fresh mirror, merged by ``generate``, whose CRs must be
        the bytes of the single run's (the mirror keeps its port so the CRs can be compared)."""
        out: dict = {"images": images, "reference_images": reference, "rows": {}}
        rows = out["rows"]

        def row(name: str, seconds: float, rss_kib: int, **extra) -> None:
            load = os.getloadavg()[0]
            rows[name] = {"seconds": seconds, "rss_mb": rss_kib / 1024, "load": load, **extra}
            print(f"  {name:<34} {seconds:8.2f} s  peak RSS {rss_kib / 1024:6.1f} MB  load {load:5.2f}"
                  + "".join(f"  {k} {v}" for k, v in extra.items()), flush=True)

        print(f"\n== {images} images ({images // 5} repositories x 5 tags, tags listed), reference {reference}, "
              f"{self.runs} no-op run(s), load at the start {os.getloadavg()[0]:.2f}", flush=True)
        corpus, seed_seconds = self.seeded_corpus(images // 5, 5)
        out["seed_seconds"] = seed_seconds
        print(f"  seeded {images} images into the source's storage in {seed_seconds:.1f} s", flush=True)
        ref = None
        if single and reference != images:
            ref, ref_seed = self.seeded_corpus(reference // 5, 5)
            print(f"  seeded {reference} images in {ref_seed:.1f} s", flush=True)
        mirror = self.registry("mirror")
        manifest = self.manifest(corpus, [mirror], f"big-{images}")
        single_out = self.work / f"out-native-{images}"
        if single:
            row("plan", *self.timed([*MIRRORSYNC, "plan", str(manifest), "--output", "json"]))
            seconds, rss, totals = self.mirrorsync(corpus, [mirror], "native", f"-{images}")
            row("cold run", seconds, rss, copied=totals["copied"])
            ref_mirror = None
            if ref is not None:
                ref_mirror = self.registry("mirror")
                seconds, rss, _ = self.mirrorsync(ref, [ref_mirror], "native", f"-{reference}")
                row(f"cold run, {reference} images", seconds, rss)
            noops: dict[int, list[tuple[float, int]]] = {images: [], reference: []}
            for _ in range(self.runs):
                for n, c, m in ((reference, ref, ref_mirror), (images, corpus, mirror)):
                    if c is None:
                        continue
                    seconds, rss, totals = self.mirrorsync(c, [m], "native", f"-{n}")
                    if totals["bytesSent"] or totals["upToDate"] != n:
                        raise SystemExit(f"no-op run of {n} images: {totals}")
                    noops[n].append((seconds, rss))
                    row(f"no-op run, {n} images", seconds, rss)
            if ref is None:
                noops[reference] = noops[images]
            medians = {n: statistics.median(s for s, _ in v) for n, v in noops.items()}
            out["noop_medians"] = medians
            ratio = medians[images] / medians[reference]
            target = 1.1 * images / reference  # the 11 x for 100,000 against 10,000
            print(f"\n  no-op median {medians[images]:.2f} s against {medians[reference]:.2f} s at {reference}: "
                  f"{ratio:.2f} x (target <= {target:g} x: {'met' if ratio <= target else 'missed'})")
            peak = max(rows["plan"]["rss_mb"], rows["cold run"]["rss_mb"], max(r for _, r in noops[images]) / 1024)
            print(f"  peak RSS of plan, cold and no-op at {images}: {peak:.1f} MB "
                  f"(target <= 300 MB: {'met' if peak <= 300 else 'missed'})", flush=True)
            if ref_mirror is not None:
                self.drop(ref_mirror)
            if ref is not None:
                self.drop(ref.registry)
        if shards:
            port = mirror.port
            self.drop(mirror)
            mirror = start_registry(self.work / f"shard-mirror-{images}", port=port)  # the same host in the CRs
            self.registries.append(mirror)
            outs = [self.work / f"out-shard-{i}" for i in range(shards)]
            results = timed_together([[*MIRRORSYNC, "run", str(manifest), "--output-dir", str(o),
                                       "--shard", f"{i}/{shards}"] for i, o in enumerate(outs)])
            copied = 0
            for i, (o, (seconds, rss)) in enumerate(zip(outs, results)):
                report = json.loads((o / "report.json").read_text())
                if report["status"] != "Succeeded":
                    raise SystemExit(f"shard {i}/{shards} did not succeed: {report['status']}")
                copied += report["totals"]["copied"]
                row(f"shard {i}/{shards} cold", seconds, rss, copied=report["totals"]["copied"])
            row(f"{shards} shards cold (slowest)", max(s for s, _ in results), max(r for _, r in results),
                copied=copied)
            merged = self.work / "out-merged"
            row("generate over the shard reports",
                *self.timed([*MIRRORSYNC, "generate", *(str(o / "report.json") for o in outs),
                             "--output-dir", str(merged)]))
            if copied != images:
                raise SystemExit(f"the shards copied {copied} images, not {images}")
            if single:
                compare_trees(single_out / "cluster-resources", merged / "cluster-resources")
                print("  merged CRs: byte-identical to the single run's", flush=True)
        self.drop(mirror)
        self.drop(corpus.registry)
        self.results[f"{images} images"] = out

    # --- OpenShift content at a real site's size (profile openshift) ---------------------------------------------

    def run_manifest(self, manifest: Path, out: Path, source: LocalRegistry, *, fresh: bool) -> dict:
        """One timed ``mirrorsync run`` (``fresh``: no previous report in ``out``): wall time, peak RSS, the
        requests the source registry answered during it, and its report."""
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
        before = logged_requests(source)
        seconds, rss = self.timed([*MIRRORSYNC, "run", str(manifest), "--output-dir", str(out)])
        report = json.loads((out / "report.json").read_text())
        if report["status"] != "Succeeded":
            raise SystemExit(f"mirrorsync run of {manifest.name} did not succeed: {report['status']}")
        return {"seconds": seconds, "rss_mb": rss / 1024, "source_requests": logged_requests(source) - before,
                "report": report}

    def releases(self, *, components: int, unchanged: float, skopeo: bool) -> None:
        """A channel of four releases of ``components`` components each, served by a loopback update graph:
        mirrorsync's cold run and no-op re-run, and the same release images and components copied by a script of
        sequential ``skopeo copy --all --preserve-digests`` (to the same tags), cold and again."""
        src = self.registry("source")
        start = time.monotonic()
        rels = openshift.push_sized_channel(src.host, "ocp", OCP_VERSIONS, components=components, unchanged=unchanged)
        unique = {img.digest for r in rels for img in r.components.values()}
        blob_bytes = storage_seed.blob_bytes(src.root)
        print(f"  releases: {len(rels)} x {components} components, {len(unique)} distinct component images, "
              f"{blob_bytes / 1e6:.1f} MB of blobs and manifests on the source, pushed in "
              f"{time.monotonic() - start:.1f} s", flush=True)
        graph = {"version": 1,
                 "nodes": [{"version": r.version, "payload": f"{src.host}/ocp/ocp-release@{r.digest}",
                            "metadata": {"io.openshift.upgrades.graph.release.channels": "stable-4.15"}}
                           for r in rels],
                 "edges": [[a, b] for b in range(len(rels)) for a in range(max(0, b - 2), b)], "conditionalEdges": []}
        server = openshift.GraphServer({("stable-4.15", "amd64"): graph}).start()
        out: dict = {"releases": len(rels), "components_per_release": components, "source_blob_bytes": blob_bytes,
                     "distinct_component_images": len(unique), "cold": [], "noop": [], "skopeo_cold": [],
                     "skopeo_again": []}
        try:
            mirror = None
            for n in range(self.runs):
                if mirror is not None:
                    self.drop(mirror)
                mirror = self.registry("mirror")
                manifest = self.work / "releases.yaml"
                manifest.write_text(yaml.safe_dump({
                    "apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest",
                    "mirrors": [f"{mirror.host}/bench-mirror"],
                    "registries": {h: {"tlsVerify": False} for h in (src.host, mirror.host)},
                    "platform": {"channels": [{"name": "stable-4.15", "minVersion": OCP_VERSIONS[0],
                                               "maxVersion": OCP_VERSIONS[-1]}], "updateService": server.url}}))
                cold = self.run_manifest(manifest, self.work / "out-releases", src, fresh=True)
                totals = cold.pop("report")["totals"]
                out["cold"].append({**cold, "copied": totals["copied"]})
                print(f"  mirrorsync cold run {n + 1}: {cold['seconds']:.2f} s, peak RSS {cold['rss_mb']:.1f} MB, "
                      f"{cold['source_requests']} source requests, totals {totals}", flush=True)
                if skopeo:
                    script = self.skopeo_release_script(src, rels, self.registry("mirror"))
                    for key in ("skopeo_cold", "skopeo_again"):
                        before = logged_requests(src)
                        seconds, _ = self.timed(["bash", str(script)])
                        out[key].append({"seconds": seconds, "source_requests": logged_requests(src) - before})
                        print(f"  {key} run {n + 1}: {seconds:.2f} s, "
                              f"{out[key][-1]['source_requests']} source requests", flush=True)
                    self.drop(self.registries[-1])
            for n in range(self.runs):
                noop = self.run_manifest(manifest, self.work / "out-releases", src, fresh=False)
                totals = noop.pop("report")["totals"]
                if totals["bytesSent"]:
                    raise SystemExit(f"no-op release run sent {totals['bytesSent']} bytes")
                out["noop"].append(noop)
                print(f"  mirrorsync no-op run {n + 1}: {noop['seconds']:.2f} s, peak RSS {noop['rss_mb']:.1f} MB, "
                      f"{noop['source_requests']} source requests", flush=True)
            out["graph_requests"] = len(server.requests)
            self.drop(mirror)
        finally:
            server.stop()
        self.drop(src)
        print(f"\n== releases: {len(rels)} releases x {components} components ({len(unique)} distinct), "
              f"{self.runs} run(s)")
        for key in ("cold", "noop", "skopeo_cold", "skopeo_again"):
            if out[key]:
                out[key + "_median"] = statistics.median(r["seconds"] for r in out[key])
                print(f"  {key:<13} median {out[key + '_median']:7.2f} s  runs "
                      + ", ".join(f"{r['seconds']:.2f}" for r in out[key])
                      + (f"  peak RSS {max(r['rss_mb'] for r in out[key]):.1f} MB" if "rss_mb" in out[key][0] else "")
                      + f"  source requests {statistics.median(r['source_requests'] for r in out[key]):.0f}")
        if out["skopeo_cold"]:
            print(f"  ratio cold mirrorsync/skopeo {out['cold_median'] / out['skopeo_cold_median']:.3f}, "
                  f"no-op mirrorsync / skopeo again {out['noop_median'] / out['skopeo_again_median']:.3f}")
        self.results["releases"] = out

    def skopeo_release_script(self, src: LocalRegistry, rels: list, mirror: LocalRegistry) -> Path:
        """What a script around skopeo does for the same content: one ``skopeo copy`` per component of every
        release (by digest, to the tag mirrorsync gives it), components first, then each release image."""
        lines = ["set -e"]
        copy = "skopeo copy -q --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false"
        for r in rels:
            for name, img in sorted(r.components.items()):
                lines.append(f"{copy} docker://{img.digest_reference} "
                             f"docker://{mirror.host}/bench-mirror/openshift/release:{r.version}-x86_64-{name}")
        for r in rels:
            lines.append(f"{copy} docker://{src.host}/ocp/ocp-release@{r.digest} "
                         f"docker://{mirror.host}/bench-mirror/openshift/release-images:{r.version}-x86_64")
        path = self.work / "skopeo-releases.sh"
        path.write_text("\n".join(lines) + "\n")
        return path

    def catalogs(self, *, packages: int, bundles: int, kept: tuple[str, ...]) -> None:
        """A catalog the size of Red Hat's operator index: time to plan with a filter naming ``kept`` (only their
        folders read) and with no package list (the whole FBC read), a cold run and no-op re-runs of the
        ``kept`` filter, and in this process the steps of reading, filtering, rebuilding and pushing."""
        src = self.registry("source")
        start = time.monotonic()
        pusher = samples.SamplePusher(src.host, insecure=True)
        pushed: list[str] = []

        def image_for(package: str, role: str, version: str, head: bool) -> str:
            repo = f"ocp/{package}-{role}"
            if head and package in kept:  # what the kept filter copies exists; nothing else need
                img = samples.push_image(pusher, repo, None, kind="oci", arches=("amd64",), layers=1,
                                         layer_size=1024, seed=openshift.hash_seed(f"{repo}/{version}"),
                                         shared_base=False)
                pushed.append(img.digest_reference)
                return img.digest_reference
            return f"{src.host}/{repo}@sha256:" + hashlib.sha256(f"{repo}/{version}".encode()).hexdigest()

        files = openshift.synthetic_catalog(image_for, packages=packages, bundles=bundles)
        fbc_bytes = sum(len(b) for b in files.values())
        count = sum(b.count(b'"schema": "olm.bundle"') for b in files.values())
        kept_bytes = sum(len(files[f"configs/{k}/catalog.json"]) for k in kept)
        digest, platforms = openshift.push_catalog(pusher, CATALOG_REPO, "v4.15", files, arches=CATALOG_ARCHES)
        pusher.close()
        layer = max(self.blob_path(src, d).stat().st_size for d in self.catalog_blobs(src, digest))
        print(f"  catalog: {len(files)} packages, {count} bundles, FBC {fbc_bytes / 1e6:.1f} MB of JSON "
              f"(configs layer {layer / 1e6:.1f} MB gzipped), {len(platforms)} platforms; kept packages "
              f"{', '.join(kept)}: {kept_bytes / 1e6:.2f} MB, {len(pushed)} images; built and pushed in "
              f"{time.monotonic() - start:.1f} s", flush=True)
        out: dict = {"packages": len(files), "bundles": count, "fbc_bytes": fbc_bytes, "configs_layer_bytes": layer,
                     "platforms": len(platforms), "kept": list(kept), "kept_bytes": kept_bytes,
                     "kept_images": len(pushed)}
        catalog = f"{src.host}/{CATALOG_REPO}:v4.15"
        mirror = self.registry("mirror")

        def manifest(name: str, entry: dict) -> Path:
            path = self.work / f"{name}.yaml"
            path.write_text(yaml.safe_dump({
                "apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest",
                "mirrors": [f"{mirror.host}/bench-mirror"],
                "registries": {h: {"tlsVerify": False} for h in (src.host, mirror.host)},
                "operators": [{"catalog": catalog, **entry}]}))
            return path

        two = manifest("catalog-two", {"packages": [{"name": k} for k in kept]})
        whole = manifest("catalog-whole", {})
        for name, path in (("plan_two_packages", two), ("plan_whole_catalog", whole)):
            runs = []
            for _ in range(self.runs):
                before = logged_requests(src)
                seconds, rss = self.timed([*MIRRORSYNC, "plan", str(path), "--output", "json"])
                runs.append({"seconds": seconds, "rss_mb": rss / 1024,
                             "source_requests": logged_requests(src) - before})
            out[name] = runs
            print(f"  {name}: " + ", ".join(f"{r['seconds']:.2f} s ({r['rss_mb']:.1f} MB)" for r in runs),
                  flush=True)
        out["cold"], out["noop"] = [], []
        for n in range(self.runs):
            if n:
                self.drop(mirror)
                mirror = self.registry("mirror")
                two = manifest("catalog-two", {"packages": [{"name": k} for k in kept]})
            cold = self.run_manifest(two, self.work / "out-catalog", src, fresh=True)
            report = cold.pop("report")
            status = [m["status"] for m in report["catalogs"][0]["mirrors"]]
            if status != ["pushed"]:
                raise SystemExit(f"cold catalog run: the rebuilt catalog was not pushed: {report['catalogs'][0]}")
            out["cold"].append({**cold, "copied": report["totals"]["copied"]})
            print(f"  catalog cold run {n + 1}: {cold['seconds']:.2f} s, peak RSS {cold['rss_mb']:.1f} MB, "
                  f"{cold['source_requests']} source requests, totals {report['totals']}", flush=True)
        for n in range(self.runs):
            noop = self.run_manifest(two, self.work / "out-catalog", src, fresh=False)
            report = noop.pop("report")
            if [m["status"] for m in report["catalogs"][0]["mirrors"]] != ["up-to-date"] or report["totals"]["bytesSent"]:
                raise SystemExit(f"no-op catalog run changed the mirror: {report['catalogs'][0]} {report['totals']}")
            out["noop"].append(noop)
            print(f"  catalog no-op run {n + 1}: {noop['seconds']:.2f} s, peak RSS {noop['rss_mb']:.1f} MB, "
                  f"{noop['source_requests']} source requests", flush=True)
        self.drop(mirror)
        out["steps_two_packages"] = self.catalog_steps(src, kept)
        out["steps_whole_catalog_heads"] = self.catalog_steps(src, ())
        self.drop(src)
        print(f"\n== catalog: {out['packages']} packages, {out['bundles']} bundles, {fbc_bytes / 1e6:.1f} MB FBC, "
              f"{self.runs} run(s)")
        for key in ("plan_two_packages", "plan_whole_catalog", "cold", "noop"):
            runs = out[key]
            out[key + "_median"] = statistics.median(r["seconds"] for r in runs)
            print(f"  {key:<19} median {out[key + '_median']:7.2f} s  runs "
                  + ", ".join(f"{r['seconds']:.2f}" for r in runs)
                  + f"  peak RSS {max(r['rss_mb'] for r in runs):.1f} MB  source requests "
                  + f"{statistics.median(r['source_requests'] for r in runs):.0f}")
        for key in ("steps_two_packages", "steps_whole_catalog_heads"):
            print(f"  {key:<26} " + "  ".join(f"{k} {v:.3f} s" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in out[key].items()))
        self.results["catalogs"] = out

    def catalog_blobs(self, r: LocalRegistry, digest: str) -> list[str]:
        """The layer digests of the catalog's first platform image."""
        with httpx.Client(base_url=r.url, headers={"Accept": ACCEPT}) as client:
            top = client.get(f"/v2/{CATALOG_REPO}/manifests/{digest}").json()
            if "manifests" in top:
                top = client.get(f"/v2/{CATALOG_REPO}/manifests/{top['manifests'][0]['digest']}").json()
        return [layer["digest"] for layer in top["layers"]]

    def catalog_steps(self, src: LocalRegistry, kept: tuple[str, ...]) -> dict:
        """What a run does with the catalog, step by step in this process (no process start, no other copies):
        read the FBC (only ``kept``'s folders, or all of it), filter (``kept``, or no package list: every
        channel head), rebuild for every platform, push to a mirror that holds the original (copied there first,
        not timed), and push again (found up to date)."""
        from mirrorsync.openshift.catalogs import fbc, rebuild  # noqa: PLC0415 - only this step timing uses them
        from mirrorsync.openshift.catalogs.filter import CatalogFilter, PackageFilter, apply, select  # noqa: PLC0415
        from mirrorsync.openshift.catalogs.planning import read_catalog  # noqa: PLC0415
        from mirrorsync.registry.client import RegistryClient  # noqa: PLC0415
        from mirrorsync.registry.settings import RegistrySettings  # noqa: PLC0415

        mirror = self.registry("mirror")
        target_repo = f"bench-mirror/{CATALOG_REPO}"
        subprocess.run(["skopeo", "copy", "-q", "--all", "--preserve-digests", "--src-tls-verify=false",
                        "--dest-tls-verify=false", f"docker://{src.host}/{CATALOG_REPO}:v4.15",
                        f"docker://{mirror.host}/{target_repo}:original"], check=True)
        source = RegistryClient(src.host, settings=RegistrySettings(tls_verify=False))
        target = RegistryClient(mirror.host, settings=RegistrySettings(tls_verify=False))
        steps: dict = {}
        clock = time.monotonic()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.monotonic()
            steps[name] = now - clock
            clock = now

        digest, catalog = read_catalog(source, CATALOG_REPO, "v4.15", packages=set(kept) if kept else None)
        lap("read")
        flt = CatalogFilter(packages=tuple(PackageFilter(k) for k in kept))
        filtered = apply(catalog, select(catalog, flt))
        lap("filter")
        rebuilt = rebuild.build(source, CATALOG_REPO, digest, lambda root: fbc.render(filtered, root))
        lap("rebuild")
        first = rebuild.push(target, target_repo, rebuilt, "v4.15-mirror")
        lap("push")
        again = rebuild.push(target, target_repo, rebuilt, "v4.15-mirror")
        lap("push_again")
        if (first, again) != ("pushed", "up-to-date"):
            raise SystemExit(f"rebuilt catalog pushes: {first}, {again}")
        layer = max(len(data) for _, data in rebuilt.blobs.values())
        steps.update(packages_kept=len(filtered.packages),
                     bundles_kept=sum(len(p.bundles) for p in filtered.packages.values()),
                     filtered_layer_bytes=layer)
        source.close()
        target.close()
        self.drop(mirror)
        return steps

    def write_outputs_seconds(self, out: Path) -> dict[str, float]:
        """Writing the last run's report.json and its CRs again, in this process: what ``run`` spends on them."""
        from mirrorsync.sync.report import load  # noqa: PLC0415
        from mirrorsync.pipeline.outputs import write_mirror_sets  # noqa: PLC0415

        rep = load(str(out / "report.json"))
        target = self.work / "rewrite"
        target.mkdir(exist_ok=True)
        start, cpu = time.monotonic(), time.process_time()
        rep.save(str(target / "report.json"))
        report = time.monotonic() - start, time.process_time() - cpu
        start, cpu = time.monotonic(), time.process_time()
        write_mirror_sets([rep], target)
        return {"report_write_s": report[0], "report_write_cpu_s": report[1],
                "crs_write_s": time.monotonic() - start, "crs_write_cpu_s": time.process_time() - cpu}

    def record(self, name: str, rows: dict[str, Timing], corpus: Corpus, floor: float | None = None,
               floor_text: str = "(parallel monolithic PUTs of the unique blobs from local files)") -> None:
        base = rows["skopeo-sync"].median
        out = {"unique_blob_bytes": corpus.unique_blob_bytes, "tools": {}}
        print(f"\n== {name}  (unique blob bytes {corpus.unique_blob_bytes / 1e6:.1f} MB, {self.runs} run(s))")
        for tool, t in rows.items():
            ratio = t.median / base if base else float("nan")
            peak = max(t.rss_kib) / 1024
            line = (f"  {tool:<12} median {t.median:7.2f} s  runs {', '.join(f'{s:.2f}' for s in t.seconds)}  "
                    f"ratio {ratio:5.2f}  peak RSS {peak:6.1f} MB")
            if t.extra.get("bytesRead"):
                line += f"  read/unique {t.extra['bytesRead'] / corpus.unique_blob_bytes:.3f}"
            print(line, flush=True)
            out["tools"][tool] = {"seconds": t.seconds, "median": t.median, "ratio_vs_skopeo_sync": ratio,
                                  "peak_rss_mb": peak, **t.extra}
            if t.network:
                print("    through the relay, per run: " + "; ".join(
                    f"{n['source_requests']} requests, {n['connections']} connections, "
                    f"{n['bytes_down'] / 1e6:.1f} MB down, relay CPU {n['relay_cpu_s']:.2f} s" for n in t.network))
                out["tools"][tool]["network"] = t.network
                images = sum(len(tags) for tags in corpus.images.values())
                kinds = t.network[-1]["kinds"]
                print(f"    source requests per image, last run ({images} images; tokens: none, no auth): " + ", ".join(
                    f"{k} {v / images:.3f}" for k, v in sorted(kinds.items())))
        if floor is not None:
            native = rows.get("native")
            print(f"  floor        {floor:7.2f} s  ratio {floor / base:5.2f}  {floor_text}"
                  + (f"  native/floor {native.median / floor:.2f}" if native else "")
                  + (f"  skopeo-sync/floor {base / floor:.2f}" if self._relay else ""))
            out["floor_seconds"] = floor
        self.results[name] = out


REQUEST_LINE = re.compile(rb'"([A-Z]+) (/[^ "]*) HTTP/')


def request_kind(method: bytes, path: bytes) -> str:
    """What a registry request is for, by method and path: the kinds the WAN rows count per image."""
    path = path.split(b"?", 1)[0]
    if path in (b"/v2/", b"/v2"):
        return "ping"
    if path.endswith(b"/tags/list"):
        return "tag list"
    for part, name in ((b"/manifests/", "manifest"), (b"/blobs/uploads", "upload"), (b"/blobs/", "blob")):
        if part in path:
            return f"{name} {method.decode()}"
    return f"other {method.decode()}"


def request_kinds(r: LocalRegistry, start: int, stop: int) -> dict[str, int]:
    """The requests between two sizes of the registry's access log, by kind."""
    with r.access_log_path.open("rb") as log:
        log.seek(start)
        text = log.read(stop - start)
    kinds: dict[str, int] = {}
    for m in REQUEST_LINE.finditer(text):
        kind = request_kind(m.group(1), m.group(2))
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def logged_requests(r: LocalRegistry) -> int:
    """How many requests the registry has answered so far (one access-log line each)."""
    with r.access_log_path.open("rb") as log:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: log.read(1 << 20), b""))


def compare_trees(expected: Path, actual: Path) -> None:
    """Fail loudly unless the two directories hold the same files with the same bytes."""
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    want, got = files(expected), files(actual)
    if not want:
        raise SystemExit(f"no CRs in {expected}")
    differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    if differ:
        raise SystemExit(f"merged CRs differ from the single run's: {', '.join(differ)} ({expected} vs {actual})")


def timed(argv: list[str]) -> tuple[float, int]:
    """Run a command; its wall time and its own peak RSS (KiB), failing loudly if it fails."""
    return timed_together([argv])[0]


def timed_together(argvs: list[list[str]]) -> list[tuple[float, int]]:
    """Start the commands at once; each one's wall time and own peak RSS (KiB), failing loudly if one fails.

    Peak RSS is the child's VmHWM polled from /proc: wait4's ru_maxrss would include the RSS of the forked bench
    process itself (the kernel carries the pre-exec high-water mark over), which says nothing about the tool.
    """
    os.sync()  # the previous run's (and a dropped registry's) writes are flushed now, not during this run
    start = time.monotonic()
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for argv in argvs]
    stderr_chunks: list[list[bytes]] = [[] for _ in procs]
    readers = [threading.Thread(target=lambda p=p, c=c: c.append(p.stderr.read()), daemon=True)
               for p, c in zip(procs, stderr_chunks)]
    for reader in readers:
        reader.start()
    peaks = [0] * len(procs)
    ends: list[float | None] = [None] * len(procs)
    while None in ends:
        for i, proc in enumerate(procs):
            if ends[i] is not None:
                continue
            if proc.poll() is not None:
                ends[i] = time.monotonic() - start
                continue
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[i] = max(peaks[i], int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
        time.sleep(0.02)
    for reader in readers:
        reader.join()
    for argv, proc, chunks in zip(argvs, procs, stderr_chunks):
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n"
                             + b"".join(chunks).decode(errors="replace")[-3000:])
    return list(zip(ends, peaks))


def push_big_image(r: LocalRegistry, repo: str, tag: str, size: int, work: Path) -> tuple[str, int]:
    """Push a single-layer image whose layer is ``size`` random bytes, streamed from a file (never in memory)."""
    path = work / "big-layer"
    h = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    layer_digest = "sha256:" + h.hexdigest()
    client = httpx.Client(base_url=r.url, timeout=600)

    def upload(data_iter, digest: str, length: int) -> None:
        loc = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
        sep = "&" if "?" in loc else "?"
        client.put(f"{loc}{sep}digest={digest}", content=data_iter,
                   headers={"Content-Length": str(length), "Content-Type": "application/octet-stream"}
                   ).raise_for_status()

    def file_chunks():
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    upload(file_chunks(), layer_digest, size)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    upload([config], config_digest, len(config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": samples.OCI_MANIFEST,
                           "config": {"mediaType": samples.OCI_CONFIG, "digest": config_digest, "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": layer_digest, "size": size}]}).encode()
    client.put(f"/v2/{repo}/manifests/{tag}", content=manifest,
               headers={"Content-Type": samples.OCI_MANIFEST}).raise_for_status()
    client.close()
    path.unlink()
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), size + len(config)


def lan(bench: Bench, wanted: list[str], engines: list[str]) -> None:
    if "cold" in wanted or "cold-2-mirrors" in wanted:
        corpus = bench.corpus(repos=8, tags=3, arches=("amd64", "arm64"), layers=4, layer_size=2 << 20,
                              kind="oci-index")
        if "cold" in wanted:
            bench.cold("cold sync ~300 MB, 1 mirror", corpus, 1, engines)
        if "cold-2-mirrors" in wanted:
            bench.cold("cold sync ~300 MB, 2 mirrors (skopeo sync once per mirror)", corpus, 2, engines)
        bench.drop(corpus.registry)
    if "noop-1000" in wanted or "cold-1000-small" in wanted or "noop-1000-signed" in wanted:
        corpus = bench.corpus(repos=200, tags=5, arches=("amd64",), layers=2, layer_size=10_000, kind="oci")
        if "cold-1000-small" in wanted:
            bench.cold("cold sync of 1000 small images", corpus, 1, engines)
        if "noop-1000" in wanted:
            bench.noop("no-op re-sync of 1000 images", corpus, engines)
        if "noop-1000-signed" in wanted:
            bench.signed_noop("no-op re-sync of 1000 signed images, signature policy on and off", corpus)
        bench.drop(corpus.registry)
    if "big-1g" in wanted:
        bench.big_layer("one image with a 1 GiB layer", 1 << 30)
    if "big-2g" in wanted:
        bench.big_layer("one image with a 2 GiB layer", 2 << 30)


def wan(bench: Bench, wanted: list[str], engines: list[str]) -> None:
    """The lan corpora's shapes, the source behind the relay (200 small images rather than 1000: skopeo sync
    needs about half a second per image at 40 ms)."""
    if "wan-cold-small" in wanted or "wan-noop" in wanted:
        corpus = bench.behind_wan(bench.corpus(repos=40, tags=5, arches=("amd64",), layers=2, layer_size=10_000,
                                               kind="oci"))
        if "wan-cold-small" in wanted:
            bench.cold("WAN: cold sync of 200 small images", corpus, 1, engines)
        if "wan-noop" in wanted:
            bench.noop("WAN: no-op re-sync of 200 images", corpus, engines)
        bench.drop(corpus.registry)
    if "wan-cold-300mb" in wanted:
        corpus = bench.behind_wan(bench.corpus(repos=8, tags=3, arches=("amd64", "arm64"), layers=4,
                                               layer_size=2 << 20, kind="oci-index"))
        bench.cold("WAN: cold sync ~300 MB, 1 mirror", corpus, 1, engines)
        bench.drop(corpus.registry)


OCP_VERSIONS = ("4.15.0", "4.15.1", "4.15.2", "4.15.3")
CATALOG_REPO = "redhat/redhat-operator-index"
CATALOG_ARCHES = ("amd64", "arm64", "ppc64le", "s390x")  # Red Hat's catalogs are built for these four


def openshift_profile(bench: Bench, wanted: list[str]) -> None:
    """A release channel and an operator catalog of a real OpenShift site's size (see BENCHMARKS.md)."""
    if "releases" in wanted:
        bench.releases(components=190, unchanged=0.3, skopeo="releases-skopeo" in wanted)
    if "catalog" in wanted:
        bench.catalogs(packages=220, bundles=8000, kept=("operator-010", "operator-100"))


PROFILES = {
    # loopback: every registry answers in a millisecond, CPU is the floor
    "lan": ("cold", "cold-2-mirrors", "noop-1000", "noop-1000-signed", "cold-1000-small", "big-1g", "big-2g"),
    # the source behind a shaping relay (--rtt-ms, --mbit), the mirror local: round trips and bandwidth decide
    "wan": ("wan-cold-small", "wan-noop", "wan-cold-300mb"),
    # thousands of tiny images (mirrorsync alone): plan, cold, no-op, RSS, report and CR writing
    "scale": ("scale-1000", "scale-10000", "scale-cold"),
    # OpenShift content at a real site's size (mirrorsync's native engine; releases also by skopeo copy)
    "openshift": ("releases", "releases-skopeo", "catalog"),
    # issue 34: 100,000 tiny images (--images), plan, cold, no-op against 10,000, and the same as 4 shards merged
    "100k": ("single", "shards"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="lan",
                        help="lan (default), wan (the source behind a latency and bandwidth shaping relay), "
                             "scale (1,000 and 10,000 tiny images), openshift (a release channel and an "
                             "operator catalog of a real site's size) or 100k (100,000 tiny images, single "
                             "and sharded)")
    parser.add_argument("--only", help="comma-separated subset of the profile's scenarios: "
                        + "; ".join(f"{k}: {', '.join(v)}" for k, v in PROFILES.items()))
    parser.add_argument("--engines", default="native,skopeo", help="mirrorsync engines to time")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="wan: round-trip time to the source (default 40)")
    parser.add_argument("--mbit", type=float, default=200.0,
                        help="wan: bandwidth to the source in Mbit/s, shared by every connection (default 200)")
    parser.add_argument("--images", type=int, default=100_000,
                        help="100k: how many images (a multiple of 5; default 100000, try 10000 or 20000)")
    parser.add_argument("--reference", type=int, default=10_000,
                        help="100k: the no-op it is compared with (default 10000 images)")
    parser.add_argument("--shards", type=int, default=4, help="100k: parallel shard processes (default 4)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    wanted = [s for s in (args.only or ",".join(PROFILES[args.profile])).split(",") if s]
    unknown = set(wanted) - set(PROFILES[args.profile])
    if unknown:
        parser.error(f"not scenarios of the {args.profile} profile: {', '.join(sorted(unknown))}")
    engines = [e for e in args.engines.split(",") if e]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          + subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip())
    # mirrorsync runs from compiled bytecode, as an installed package does (pip compiles at install): this checkout
    # is an editable install, and where PYTHONDONTWRITEBYTECODE is set every timed run would compile it again
    compileall.compile_dir(ROOT / "mirrorsync", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="mirrorsync-bench-"))
    bench = Bench(work, args.runs, rtt_ms=args.rtt_ms, mbit=args.mbit)
    try:
        if args.profile == "wan":
            print(f"wan: source behind a relay, round trip {args.rtt_ms:g} ms, {args.mbit:g} Mbit/s shared; "
                  "mirror local")
            wan(bench, wanted, engines)
        elif args.profile == "openshift":
            print("load average at the start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
            openshift_profile(bench, wanted)
            print("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        elif args.profile == "100k":
            bench.hundred_k(args.images, args.reference, args.shards if "shards" in wanted else 0,
                            single="single" in wanted)
        elif args.profile == "scale":
            sizes = [(n // 5, 5) for n in (1000, 10000) if f"scale-{n}" in wanted]
            bench.scale(sizes, cold="scale-cold" in wanted)
        else:
            lan(bench, wanted, engines)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(bench.results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
