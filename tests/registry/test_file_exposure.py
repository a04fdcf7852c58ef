"""Which auth file modes get a warning (registry/file_exposure.py): one others can read always; one only its group
can read only when it is ours to chmod, so the shipped CronJob's secret volume (0440, root's, group fsGroup,
mounted read-only) is read without a warning every night."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from mirrorsync.registry.file_exposure import exposure_warning

AUTH = '{"auths": {"registry.example.com": {"auth": "dTpw"}}}'
CRONJOB = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "kubernetes" / "cronjob.yaml").read_text())
POD = CRONJOB["spec"]["jobTemplate"]["spec"]["template"]["spec"]
POD_UID = POD["securityContext"]["runAsUser"]
[SECRET_MODE] = [v["secret"]["defaultMode"] for v in POD["volumes"] if "secret" in v]


def _file(path: Path, mode: int, uid: int | None = None, gid: int | None = None) -> Path:
    path.write_text(AUTH)
    path.chmod(mode)
    if uid is not None or gid is not None:
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    return path


@pytest.mark.parametrize("mode, want", [
    (0o600, None), (0o400, None),
    (0o640, "is readable by group or others (mode 640); chmod 600 it"),
    (0o440, "is readable by group or others (mode 440); chmod 600 it"),
    (0o644, "is readable by group or others (mode 644); chmod 600 it"),
])
def test_a_file_of_ours_on_a_writable_disk(tmp_path, mode, want):
    path = _file(tmp_path / "auth.json", mode)
    got = exposure_warning(path)
    assert got == (None if want is None else f"auth file {path} {want}")


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: a file owned by another user, a tmpfs mounted read-only")


def test_another_users_file_readable_by_its_group_is_not_ours_to_chmod(tmp_path, as_root):
    assert exposure_warning(_file(tmp_path / "a.json", 0o440, uid=POD_UID, gid=POD_UID)) is None
    others = _file(tmp_path / "b.json", 0o444, uid=POD_UID)
    assert exposure_warning(others) == (
        f"auth file {others} is readable by others (mode 444); it is not ours to chmod (another user's, or a "
        "read-only mount): mount it with mode 0400 or 0440 (a Kubernetes secret volume's defaultMode)")


@pytest.fixture
def secret_volume(as_root):
    """A tmpfs laid out as Kubernetes mounts the shipped CronJob's secret: auth.json root's with group fsGroup and
    the CronJob's defaultMode (0440), manifest.yaml beside it, the whole file system then remounted read-only."""
    mount = Path(tempfile.mkdtemp(prefix="mirrorsync-secret-", dir="/tmp"))
    mount.chmod(0o755)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        mount.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert POD["securityContext"]["fsGroup"] == POD["securityContext"]["runAsGroup"] == POD_UID
        _file(mount / "auth.json", SECRET_MODE, uid=0, gid=POD_UID)
        _file(mount / "open.json", 0o444, uid=0, gid=POD_UID)
        (mount / "manifest.yaml").write_text(
            "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [mirror.example.com]\n"
            "images: [{source: registry.example.com/a/b, tags: ['1']}]\n")
        (mount / "manifest.yaml").chmod(0o444)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def test_root_on_a_read_only_mount_is_not_warned_either(secret_volume):
    # root owns both files here, but the mount is read-only: chmod cannot help
    assert exposure_warning(secret_volume / "auth.json") is None
    assert "it is not ours to chmod" in exposure_warning(secret_volume / "open.json")


def test_the_cronjobs_secret_volume_is_read_without_a_warning(secret_volume):
    def plan(auth: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
        env.update(HOME=str(secret_volume), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        # setpriv (util-linux): the pod's user and group, no other group, as the CronJob's securityContext says
        as_pod = ["setpriv", f"--reuid={POD_UID}", f"--regid={POD_UID}", "--clear-groups"]
        return subprocess.run([*as_pod, sys.executable, "-m", "mirrorsync", "plan", "--offline",
                               str(secret_volume / "manifest.yaml"), "--authfile", str(secret_volume / auth)],
                              capture_output=True, text=True, env=env, cwd=str(secret_volume),
                              timeout=120, stdin=subprocess.DEVNULL)

    # the checkout must be readable by the pod's user: a clone under `mktemp -d` (0700, root's) is not
    probe = subprocess.run(["setpriv", f"--reuid={POD_UID}", f"--regid={POD_UID}", "--clear-groups",
                            sys.executable, "-c", "import mirrorsync"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                           cwd="/", timeout=60, stdin=subprocess.DEVNULL)
    if probe.returncode != 0:
        pytest.skip(f"UID {POD_UID} cannot run this checkout's mirrorsync (a parent directory it cannot enter?): "
                    f"{probe.stderr.strip().splitlines()[-1:]}")
    done = plan("auth.json")
    assert done.returncode == 0, done.stderr
    assert "credentials for registry.example.com: found" in done.stdout.splitlines()  # read through its group
    assert "readable" not in done.stderr, done.stderr
    opened = plan("open.json")  # others may read this one: still said, once
    assert opened.returncode == 0, opened.stderr
    assert opened.stderr.count("is readable by others (mode 444)") == 1, opened.stderr
