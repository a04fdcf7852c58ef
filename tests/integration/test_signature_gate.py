"""Trust before copy, end to end, with both engines: cosign-format signatures (the layout cosign 2.x pushes, made by
``support.cosign`` with test keys) on the real docker-registry, a containers-policy.json, and ``mirrorsync run``.
Only what the policy accepts reaches the mirror and the CRs; the rest is ``signature-rejected`` with its reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
import yaml

from support.cli import mirrorsync, registry_settings, run_images, write_manifest
from support.cosign import Signer, sign

pytestmark = pytest.mark.integration

ACCEPT = [{"type": "insecureAcceptAnything"}]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The key the policy trusts, and another one."""
    return Signer(tmp_path_factory.mktemp("trusted")), Signer(tmp_path_factory.mktemp("other"))


def signed_by(key: Signer, identity: str | None = None) -> list[dict]:
    req = {"type": "sigstoreSigned", "keyPath": str(key.pub)}
    if identity:
        req["signedIdentity"] = {"type": identity}
    return [req]


def write_policy(path: Path, docker: dict) -> Path:
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": docker}}, indent=2))
    return path


def on_mirror(mirror_registry, repository: str, digest: str) -> bool:
    with httpx.Client(verify=False) as client:
        r = client.head(f"{mirror_registry.url}/v2/{repository}/manifests/{digest}",
                        headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    return r.status_code == 200


def cr_sources(run) -> set[str]:
    return {e["source"] for obj in run.cr("imagedigestmirrorset.yaml") for e in obj["spec"]["imageDigestMirrors"]}


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_the_matrix(engine, tmp_path, registry, mirror_registry, seed, pusher_for, unique_repo, keys):
    trusted, other = keys
    pusher, host = pusher_for(registry), registry.host
    images, policy, expect = [], {}, {}

    def case(name: str, requirements: list[dict] | None, want: str | None, *, repository: str | None = None,
             sign_with=None, **sign_args):
        """An image of its own, its policy scope, and what the gate must decide (None: copied; else the
        reason)."""
        img = seed(registry, repository or unique_repo(name), seed=len(images))
        if sign_with is not None:
            sign(pusher, sign_with, img.repository, img.digest, **sign_args)
        if requirements is not None:
            policy[f"{host}/{img.repository}"] = requirements
        images.append({"source": f"{host}/{img.repository}:latest"})
        expect[img.repository] = (img, want)
        return img

    case("signed", signed_by(trusted, "matchRepository"), None, sign_with=trusted)
    case("unsigned", signed_by(trusted, "matchRepository"), "no signature")
    case("other-key", signed_by(other, "matchRepository"), "wrong key", sign_with=trusted)
    elsewhere = seed(registry, unique_repo("elsewhere"), seed=99)
    case("other-digest", signed_by(trusted, "matchRepository"), "digest mismatch", sign_with=trusted,
         signed_digest=elsewhere.digest)
    case("other-repo", signed_by(trusted, "matchRepository"), "identity mismatch", sign_with=trusted,
         identity=f"{host}/{elsewhere.repository}")
    case("tampered", signed_by(trusted, "matchRepository"), "wrong key", sign_with=trusted, tamper=True)
    case("reject", [{"type": "reject"}], "policy reject", sign_with=trusted)
    case("accept-anything", ACCEPT, None)
    # matchRepoDigestOrExact (the default) for a job by tag: cosign's identity (no tag) is not enough, the tag is
    case("default-identity", signed_by(trusted), "identity mismatch", sign_with=trusted)
    tagged = case("default-identity-tagged", signed_by(trusted), None)
    sign(pusher, trusted, tagged.repository, tagged.digest, identity=f"{host}/{tagged.repository}:latest")
    # nested scopes: the namespace needs signatures, one repository under it is open; no scope: the default
    ns = unique_repo("ns")
    policy[f"{host}/{ns}"] = signed_by(trusted, "matchRepository")
    case("open", ACCEPT, None, repository=f"{ns}/open")
    case("closed", None, "no signature", repository=f"{ns}/closed")
    case("signed-in-ns", None, None, repository=f"{ns}/signed", sign_with=trusted)
    case("no-scope", None, "policy reject")

    pol = write_policy(tmp_path / "policy.json", policy)
    run = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/g", images,
                     args=("--engine", engine, "--signature-policy", str(pol)))
    assert run.returncode == 1, run.stderr
    report = run.report
    assert report["engine"] == engine
    sources = cr_sources(run)
    for repo, (img, want) in expect.items():
        rec = run.image(repo, "latest")
        landed = on_mirror(mirror_registry, f"g/{repo}", img.digest)
        if want is None:
            assert rec["status"] == "copied", (repo, rec)
            assert rec["signature"]["accepted"] is True and rec["signature"]["digest"] == img.digest
            assert landed and f"{host}/{repo}" in sources
        else:
            assert rec["status"] == "signature-rejected", (repo, rec)
            assert rec["signature"] == {"accepted": False, "scope": rec["signature"]["scope"],
                                        "digest": img.digest, "reason": want,
                                        "policy": rec["signature"]["policy"]}, repo
            assert want in rec["error"]
            assert not landed, repo
            assert f"{host}/{repo}" not in sources
    # the scope that applied, for the nested ones
    assert run.image(f"{ns}/closed", "latest")["signature"]["scope"] == f"{host}/{ns}"
    assert run.image(f"{ns}/open", "latest")["signature"]["scope"] == f"{host}/{ns}/open"
    no_scope = next(r for r in expect if "-no-scope-" in r)
    assert run.image(no_scope, "latest")["signature"]["scope"] == "default"


def test_earlier_runs_content_stays_when_the_policy_later_refuses(tmp_path, registry, mirror_registry, seed, keys):
    img = seed(registry)
    image = [{"source": f"{registry.host}/{img.repository}:latest"}]
    scope = f"{registry.host}/{img.repository}"
    first = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/g", image,
                       args=("--signature-policy", str(write_policy(tmp_path / "p1.json", {scope: ACCEPT}))))
    assert first.returncode == 0, first.stderr
    again = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/g", image,
                       args=("--signature-policy", str(write_policy(tmp_path / "p2.json",
                                                                    {scope: signed_by(keys[0])}))))
    assert again.returncode == 1
    rec = again.image(img.repository, "latest")
    assert rec["status"] == "signature-rejected" and rec["signature"]["reason"] == "no signature"
    # not copied this run, but what the first run put there is kept (carry-over), and so is its CR entry
    assert rec["destinations"][0]["onMirror"] is True
    assert on_mirror(mirror_registry, f"g/{img.repository}", img.digest)
    assert scope in cr_sources(again)


def test_manifest_option_relative_to_the_manifest(tmp_path, registry, mirror_registry, seed, keys):
    img = seed(registry)
    (tmp_path / "conf").mkdir()
    write_policy(tmp_path / "conf" / "policy.json", {f"{registry.host}/{img.repository}": ACCEPT})
    manifest = write_manifest(tmp_path / "conf" / "m.yaml", mirrors=[f"{mirror_registry.host}/g"],
                              registries={r.host: registry_settings(r) for r in (registry, mirror_registry)},
                              images=[{"source": f"{registry.host}/{img.repository}:latest"}],
                              options={"retries": 1, "signaturePolicy": "policy.json"})
    proc = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["images"][0]["signature"]["scope"] == f"{registry.host}/{img.repository}"


@pytest.mark.parametrize("engine", ["native", "skopeo"])
@pytest.mark.parametrize("text,words", [
    ('{"default": [{"type": "sigstoreSignedd"}]}', "policy.json:1: default[0].type: unknown requirement type"),
    ('{"default": [{"type": "reject"}],\n "transports": {"docker": {"x.io": [\n'
     '  {"type": "sigstoreSigned", "keyPath": "gone.pub"}]}}}',
     "policy.json:3: transports.docker.x.io[0].keyPath: key file"),
    ('{"default": [{"type": "reject"}', "policy.json:1: invalid JSON"),
])
def test_bad_policy_files_copy_nothing(engine, text, words, tmp_path, registry, mirror_registry, seed):
    img = seed(registry)
    pol = tmp_path / "policy.json"
    pol.write_text(text)
    run = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/g",
                     [{"source": f"{registry.host}/{img.repository}:latest"}],
                     args=("--engine", engine, "--signature-policy", str(pol)))
    assert run.returncode == 2
    assert words in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (run.output_dir / "report.json").exists()
    assert not on_mirror(mirror_registry, f"g/{img.repository}", img.digest)


@pytest.fixture(scope="module")
def gpg_keys(tmp_path_factory):
    from support.gpg_signer import GPGSigner

    made = (GPGSigner(tmp_path_factory.mktemp("gpg-trusted")), GPGSigner(tmp_path_factory.mktemp("gpg-other")),
            GPGSigner(tmp_path_factory.mktemp("gpg-expired"), expired=True))
    yield made
    for s in made:
        s.close()


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_gpg_signatures_from_a_lookaside_store(engine, tmp_path, registry, mirror_registry, seed, pusher_for,
                                               gpg_keys, keys):
    """signedBy with GPG keys, signatures in a file:// lookaside store that registries.d names; registries.d also
    turns cosign's attachments off for one scope, so its cosign signature is not read."""
    from support.gpg_signer import put_lookaside

    trusted, other, expired = gpg_keys
    host, store = registry.host, tmp_path / "lookaside"
    cases = {}
    for name, signer, want in (("good", trusted, None), ("unsigned", None, "no signature"),
                               ("other", other, "wrong key"), ("expired", expired, "expired key")):
        img = seed(registry, seed=len(cases))
        if signer is not None:
            put_lookaside(store, img.repository, img.digest,
                          [signer.sign(img.digest, f"{host}/{img.repository}:latest")])
        cases[name] = (img, want)
    no_attachments = seed(registry, seed=9)
    sign(pusher_for(registry), keys[0], no_attachments.repository, no_attachments.digest)
    cases["attachments-off"] = (no_attachments, "no signature")

    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "default.yaml").write_text(f"default-docker:\n  lookaside: file://{store}\n"
                                       f"docker:\n  {host}/{no_attachments.repository}:\n"
                                       "    use-sigstore-attachments: false\n")
    policy = {f"{host}/{img.repository}": [{"type": "signedBy", "keyType": "GPGKeys",
                                             "keyPath": str(trusted.public_key) if n != "expired"
                                             else str(expired.public_key)}]
              for n, (img, _) in cases.items() if n != "attachments-off"}
    policy[f"{host}/{no_attachments.repository}"] = signed_by(keys[0], "matchRepository")
    write_policy(tmp_path / "policy.json", policy)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/gpg"],
                              registries={r.host: registry_settings(r) for r in (registry, mirror_registry)},
                              images=[{"source": f"{host}/{img.repository}:latest"} for img, _ in cases.values()],
                              options={"retries": 1, "engine": engine, "signaturePolicy": "policy.json",
                                       "registriesD": "registries.d"})
    proc = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    records = {i["source"]: i for i in report["images"]}
    for name, (img, want) in cases.items():
        rec = records[f"{host}/{img.repository}"]
        if want is None:
            assert rec["status"] == "copied", (name, rec)
            assert on_mirror(mirror_registry, f"gpg/{img.repository}", img.digest)
        else:
            assert rec["status"] == "signature-rejected" and rec["signature"]["reason"] == want, (name, rec)
            assert not on_mirror(mirror_registry, f"gpg/{img.repository}", img.digest)



def test_plan_verify_signatures_checks_without_copying(tmp_path, registry, mirror_registry, seed, pusher_for, keys):
    good, bad = seed(registry, seed=1), seed(registry, seed=2)
    sign(pusher_for(registry), keys[0], good.repository, good.digest)
    pol = write_policy(tmp_path / "policy.json", {f"{registry.host}/{r.repository}": signed_by(keys[0],
                                                                                             "matchRepository")
                                                  for r in (good, bad)})
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/plan"],
                              registries={r.host: registry_settings(r) for r in (registry, mirror_registry)},
                              images=[{"source": f"{registry.host}/{r.repository}:latest"} for r in (good, bad)])
    proc = mirrorsync("plan", str(manifest), "--verify-signatures", "--signature-policy", str(pol), "--output", "json")
    assert proc.returncode == 1, proc.stderr
    jobs = {j["source"]: j["signature"] for j in json.loads(proc.stdout)["jobs"]}
    assert jobs[f"{registry.host}/{good.repository}"]["accepted"] is True
    refused = jobs[f"{registry.host}/{bad.repository}"]
    assert refused == {"accepted": False, "digest": bad.digest, "scope": f"{registry.host}/{bad.repository}",
                       "reason": "no signature", "policy": refused["policy"]}
    text = mirrorsync("plan", str(manifest), "--verify-signatures", "--signature-policy", str(pol))
    assert "signature-rejected: no signature" in text.stdout and "signature: accepted" in text.stdout
    assert not on_mirror(mirror_registry, f"plan/{good.repository}", good.digest)  # nothing copied
    assert mirrorsync("plan", str(manifest), "--verify-signatures").returncode == 2  # no policy: bad input


def test_export_checks_at_the_connected_side_and_import_again_from_the_layout(tmp_path, registry, make_registry,
                                                                             seed, pusher_for, keys):
    far = make_registry("far-signed")
    good, unsigned = seed(registry, seed=1), seed(registry, seed=2)
    sign(pusher_for(registry), keys[0], good.repository, good.digest)
    scopes = {f"{registry.host}/{r.repository}": signed_by(keys[0], "matchRepository") for r in (good, unsigned)}
    pol = write_policy(tmp_path / "policy.json", scopes)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{far.host}/m"],
                              registries={r.host: registry_settings(r) for r in (registry, far)},
                              images=[{"source": f"{registry.host}/{r.repository}:latest", "signatures": True}
                                      for r in (good, unsigned)], options={"retries": 1})
    export_dir = tmp_path / "export"
    exported = mirrorsync("export", str(manifest), "--to", str(export_dir), "--signature-policy", str(pol))
    assert exported.returncode == 1, exported.stderr
    rep = json.loads((export_dir / "report.json").read_text())
    status = {i["source"]: i["status"] for i in rep["images"]}
    assert status == {f"{registry.host}/{good.repository}": "copied",
                      f"{registry.host}/{unsigned.repository}": "signature-rejected"}

    # the dark site checks again, from the signatures the layout carries (the source is not asked)
    imported = mirrorsync("import", str(export_dir), "--output-dir", str(tmp_path / "out"),
                          "--signature-policy", str(pol))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    rec = next(i for i in report["images"] if i["source"].endswith(good.repository))
    assert rec["status"] == "copied" and rec["signature"]["accepted"], (imported.stderr, rec)
    assert on_mirror(far, f"m/{good.repository}", good.digest)
    # a dark site trusting another key refuses the same layout
    other = write_policy(tmp_path / "other.json", {s: signed_by(keys[1], "matchRepository") for s in scopes})
    refused = mirrorsync("import", str(export_dir), "--output-dir", str(tmp_path / "out2"),
                         "--signature-policy", str(other))
    assert refused.returncode == 1
    rec = next(i for i in json.loads((tmp_path / "out2" / "report.json").read_text())["images"]
               if i["source"].endswith(good.repository))
    assert rec["status"] == "signature-rejected" and rec["signature"]["reason"] == "wrong key"


def test_verify_checks_the_signatures_on_the_mirror(tmp_path, registry, mirror_registry, seed, pusher_for, keys):
    """After a run that carried the signatures (signatures: true), verify with the policy reads them from the
    mirror; a mirror whose signature was swapped is untrusted."""
    good, swapped = seed(registry, seed=3), seed(registry, seed=4)
    for img in (good, swapped):
        sign(pusher_for(registry), keys[0], img.repository, img.digest)
    scopes = {f"{registry.host}/{r.repository}": signed_by(keys[0], "matchRepository") for r in (good, swapped)}
    pol = write_policy(tmp_path / "policy.json", scopes)
    run = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/v",
                     [{"source": f"{registry.host}/{r.repository}:latest", "signatures": True}
                      for r in (good, swapped)],
                     args=("--signature-policy", str(pol)))
    assert run.returncode == 0, run.stderr
    ok = mirrorsync("verify", str(run.output_dir), "--signature-policy", str(pol))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # someone replaces the mirror's signature with one by another key
    sign(pusher_for(mirror_registry), keys[1], f"v/{swapped.repository}", swapped.digest,
         identity=f"{registry.host}/{swapped.repository}")
    bad = mirrorsync("verify", str(run.output_dir), "--signature-policy", str(pol))
    assert bad.returncode == 1
    assert [ln for ln in bad.stdout.splitlines() if ln.startswith("untrusted:")] == [
        f"untrusted: {mirror_registry.host}/v/{swapped.repository}:latest: signature policy scope "
        f"'{registry.host}/{swapped.repository}': wrong key: the signature does not verify with any trusted key "
        f"({pol}:{policy_line(pol, swapped)})"]


def policy_line(pol: Path, img) -> int:
    """The line of the requirement (the one after the scope's) in the policy file written by write_policy."""
    lines = pol.read_text().splitlines()
    return next(i for i, ln in enumerate(lines, 1) if f"/{img.repository}\"" in ln) + 1


def test_an_up_to_date_image_is_verified_once_and_remembered_by_digest(tmp_path, registry, mirror_registry, seed,
                                                                       pusher_for, keys):
    """The previous report's decision is reused for the same digest under the same policy (text and keys): the
    re-run does not read the signatures again. Another policy decides afresh."""
    img = seed(registry)
    pusher = pusher_for(registry)
    sign(pusher, keys[0], img.repository, img.digest)
    scope = f"{registry.host}/{img.repository}"
    pol = write_policy(tmp_path / "policy.json", {scope: signed_by(keys[0], "matchRepository")})
    image = [{"source": f"{scope}:latest"}]
    first = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/mem", image,
                       args=("--signature-policy", str(pol)))
    assert first.returncode == 0, first.stderr
    fingerprint = first.image(img.repository, "latest")["signature"]["policy"]
    assert fingerprint.startswith("sha256:")

    sign(pusher, keys[1], img.repository, img.digest)  # the source's signature is now one the policy refuses
    again = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/mem", image,
                       args=("--signature-policy", str(pol)))
    rec = again.image(img.repository, "latest")
    assert again.returncode == 0 and rec["status"] == "up-to-date", again.stderr
    assert rec["signature"] == {"accepted": True, "scope": scope, "digest": img.digest, "policy": fingerprint}

    pol.write_text(pol.read_text() + "\n")  # another policy text: nothing is remembered under it
    fresh = run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/mem", image,
                       args=("--signature-policy", str(pol)))
    rec = fresh.image(img.repository, "latest")
    assert fresh.returncode == 1 and rec["status"] == "signature-rejected"
    assert rec["signature"]["reason"] == "wrong key" and rec["signature"]["policy"] != fingerprint


def test_the_cluster_receives_the_same_policy(tmp_path, registry, mirror_registry, seed, pusher_for, keys):
    """options.clusterImagePolicy: the policy's sigstoreSigned scope as a ClusterImagePolicy beside the mirror sets,
    applicable (its CRD), listed in the Kustomization; ``generate`` writes it again from the report alone."""
    from support.kubectl import assert_applicable

    img = seed(registry)
    sign(pusher_for(registry), keys[0], img.repository, img.digest)
    # the CRD wants a qualified host: the scope is the namespace on 127.0.0.1 (four components, like an IP)
    scope = f"{registry.host}/{img.repository.split('/')[0]}"
    write_policy(tmp_path / "policy.json", {scope: signed_by(keys[0], "matchRepository")})
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/cip"],
                              registries={r.host: registry_settings(r) for r in (registry, mirror_registry)},
                              images=[{"source": f"{registry.host}/{img.repository}:latest"}],
                              options={"retries": 1, "signaturePolicy": "policy.json", "clusterImagePolicy": True})
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    kinds = assert_applicable(out / "cluster-resources", tmp_path)
    assert "ClusterImagePolicy" in {k for k, _ in kinds}
    (cip,) = yaml.safe_load_all((out / "cluster-resources" / "clusterimagepolicy.yaml").read_text())
    assert cip["spec"]["scopes"] == [scope]
    assert cip["spec"]["policy"]["signedIdentity"] == {"matchPolicy": "MatchRepository"}
    assert base64.b64decode(cip["spec"]["policy"]["rootOfTrust"]["publicKey"]["keyData"]) == keys[0].pub.read_bytes()
    again = tmp_path / "generated"
    gen = mirrorsync("generate", str(out / "report.json"), "--output-dir", str(again))
    assert gen.returncode == 0, gen.stderr
    assert (again / "cluster-resources" / "clusterimagepolicy.yaml").read_text() == \
        (out / "cluster-resources" / "clusterimagepolicy.yaml").read_text()
