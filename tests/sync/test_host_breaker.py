"""The circuit breaker: a host is given up after ``giveUpAfter`` images in a row could not reach it, not before,
and a success in between starts the count again; a given-up host's jobs are refused, saying why."""

import textwrap

import pytest

from mirrorsync.errors import InputError
from mirrorsync.sync import manifest, plan
from mirrorsync.sync.copy_results import CopyResult
from mirrorsync.sync.host_breaker import HostBreaker, hosts_of


def jobs(options: str = ""):
    m = manifest.parse(textwrap.dedent("""\
        apiVersion: mirrorsync.dev/v1alpha1
        kind: SyncManifest
        mirrors: [mirror.example:5000/m]
        images:
          - source: quay.io/team/app
            tags: [v1, v2, v3, v4, v5, v6]
          - source: docker.io/library/busybox
            tags: ["1.36"]
        """) + options, "m.yaml")
    return m, plan.build(m, lambda ref: []).jobs


def failed_at(*hosts: str) -> CopyResult:
    return CopyResult(error="unreachable", unreachable_hosts=set(hosts))


def test_the_mirror_is_given_up_after_the_limit_in_a_row_and_a_success_starts_again():
    _m, all_jobs = jobs()
    quay, busybox = all_jobs[:6], all_jobs[6]
    breaker = HostBreaker(3)
    for job in quay[:2]:
        breaker.observe(job, failed_at("mirror.example:5000"))
    breaker.observe(quay[2], CopyResult())  # reached it: the count starts again
    for job in quay[3:5]:
        breaker.observe(job, failed_at("mirror.example:5000"))
    assert breaker.refusal(quay[5]) is None
    breaker.observe(quay[5], failed_at("mirror.example:5000"))
    assert breaker.refusal(busybox) == "given up: mirror.example:5000 failed 3 images in a row"
    assert breaker.reason("quay.io") is None  # the source answered every time


def test_a_job_whose_source_was_given_up_is_still_tried_its_mirrors_may_hold_it():
    _m, all_jobs = jobs()
    breaker = HostBreaker(3)
    breaker.give_up("quay.io", "preflight: cannot connect to quay.io")
    assert breaker.refusal(all_jobs[0]) is None and breaker.reason("quay.io").startswith("preflight: ")


def test_zero_never_gives_up_and_docker_hub_is_its_api_host():
    _m, all_jobs = jobs()
    breaker = HostBreaker(0)
    for job in all_jobs * 10:
        breaker.observe(job, failed_at("mirror.example:5000"))
    assert all(breaker.refusal(job) is None for job in all_jobs)
    assert hosts_of(all_jobs[6]) == ["registry-1.docker.io", "mirror.example:5000"]


def test_give_up_after_is_a_manifest_option_with_its_line():
    m, _ = jobs("options:\n  giveUpAfter: 2\n")
    assert m.options.give_up_after == 2
    assert jobs()[0].options.give_up_after == 5
    with pytest.raises(InputError, match=r"m.yaml:\d+: options.giveUpAfter: must be a number from 0 to 256"):
        jobs("options:\n  giveUpAfter: -1\n")
