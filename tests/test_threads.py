"""The thread policy: the CPUs a process may use (affinity, cgroup v1 and v2 quotas, read from
files written in each format), one thread for small steps, fewer beside busy work, and the
user's own count (torch.set_num_threads, OMP_NUM_THREADS, SPARSEKIT_THREADS) kept as given."""
from pathlib import Path

import pytest
import torch

import sparsekit as sk
from sparsekit.core import threads
from sparsekit.core.errors import SparsekitError
from sparsekit.models import build
from sparsekit.models.cost import forward_macs


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    """Each test starts from the kit's own state and leaves torch's count as it found it."""
    before = torch.get_num_threads()
    for name in ("SPARSEKIT_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_kit_count", before)
    monkeypatch.setattr(threads, "_share", None)
    monkeypatch.setattr(threads, "_held", None)
    monkeypatch.setattr(threads, "_last", None)
    yield
    torch.set_num_threads(before)


def test_cgroup_v2_quota_is_the_smallest_along_the_path(tmp_path):
    write(tmp_path / "self_cgroup", "0::/user.slice/session\n")
    root = tmp_path / "fs"
    write(root / "cgroup.controllers", "cpu memory\n")
    write(root / "user.slice" / "cpu.max", "300000 100000\n")
    write(root / "user.slice" / "session" / "cpu.max", "max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", root) == pytest.approx(3.0)
    write(root / "user.slice" / "session" / "cpu.max", "150000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", root) == pytest.approx(1.5)


def test_cgroup_v2_without_a_quota_and_on_a_hybrid_system(tmp_path):
    write(tmp_path / "self_cgroup", "0::/\n")
    root = tmp_path / "fs"
    write(root / "cgroup.controllers", "cpu\n")
    write(root / "cpu.max", "max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", root) is None
    hybrid = tmp_path / "hybrid"  # v1 controllers, the v2 hierarchy mounted under unified/
    write(hybrid / "unified" / "cpu.max", "50000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", hybrid) == pytest.approx(0.5)


def test_cgroup_v1_quota_and_a_container_whose_path_is_the_hosts(tmp_path):
    write(tmp_path / "self_cgroup", "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    root = tmp_path / "fs"
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "200000\n")
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", root) == pytest.approx(2.0)
    inside = tmp_path / "inside"  # the container sees its own cgroup at the mount, not /docker/abc
    write(inside / "cpu,cpuacct" / "cpu.cfs_quota_us", "100000\n")
    write(inside / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", inside) == pytest.approx(1.0)
    write(inside / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    assert threads.cgroup_cpu_limit(tmp_path / "self_cgroup", inside) is None


def test_usable_cpus_rounds_the_quota_down_and_never_below_one(tmp_path, monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    write(tmp_path / "self_cgroup", "0::/\n")
    write(tmp_path / "fs" / "cgroup.controllers", "cpu\n")
    write(tmp_path / "fs" / "cpu.max", "250000 100000\n")
    assert threads.usable_cpus(tmp_path / "self_cgroup", tmp_path / "fs")[0] == 2
    write(tmp_path / "fs" / "cpu.max", "30000 100000\n")
    count, reason = threads.usable_cpus(tmp_path / "self_cgroup", tmp_path / "fs")
    assert count == 1 and "quota" in reason
    write(tmp_path / "fs" / "cpu.max", "max 100000\n")
    assert threads.usable_cpus(tmp_path / "self_cgroup", tmp_path / "fs")[0] == 4


def test_busy_cpus_reads_the_runnable_count_without_itself(tmp_path):
    write(tmp_path / "loadavg", "3.10 2.00 1.00 4/312 9999\n")
    assert threads.busy_cpus(tmp_path / "loadavg", samples=3, interval_s=0) == 3
    assert threads.busy_cpus(tmp_path / "missing", samples=1) == 0


def test_the_kit_chooses_by_step_size_cpus_and_busy_work(monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: (4, "4 CPUs"))
    monkeypatch.setattr(threads, "busy_cpus", lambda: 0)
    assert threads.choose(threads.SMALL_STEP_MACS / 2).count == 1
    assert threads.choose(threads.SMALL_STEP_MACS * 2).count == 4
    monkeypatch.setattr(threads, "busy_cpus", lambda: 3)
    chosen = threads.choose(threads.SMALL_STEP_MACS * 2)
    assert chosen.count == 1 and "busy" in chosen.reason
    monkeypatch.setattr(threads, "busy_cpus", lambda: 0)
    threads.limit_to(threads.Threads(2, "a sweep worker's share"))
    assert threads.choose(threads.SMALL_STEP_MACS * 2) == (2, "all usable CPUs (a sweep worker's share)")
    monkeypatch.setattr(threads, "usable_cpus", lambda: (1, "quota 1"))
    assert threads.choose(None).count == 1


def test_the_users_count_is_kept(monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: (4, "4 CPUs"))
    monkeypatch.setenv("SPARSEKIT_THREADS", "3")
    assert threads.choose(1e3) == (3, "SPARSEKIT_THREADS=3")
    monkeypatch.setenv("SPARSEKIT_THREADS", "many")
    with pytest.raises(SparsekitError, match="SPARSEKIT_THREADS"):
        threads.choose(1e3)
    monkeypatch.delenv("SPARSEKIT_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.choose(1e3).reason == "OMP_NUM_THREADS=2"
    monkeypatch.delenv("OMP_NUM_THREADS")
    other = 1 if torch.get_num_threads() != 1 else 2
    torch.set_num_threads(other)  # the user's own call, after the kit's
    assert threads.choose(1e3) == (other, "set with torch.set_num_threads")


def test_a_held_count_wins_inside_and_is_undone_after():
    before = torch.get_num_threads()
    with threads.held(2, "a rerun"):
        assert threads.choose(1e3) == (2, "a rerun") and torch.get_num_threads() == 2
    assert torch.get_num_threads() == before and threads.choose(1e3).reason != "a rerun"


def test_forward_macs_counts_convolutions_and_the_classifier():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10))
    assert forward_macs(model, (1, 8, 8)) == 4 * 8 * 8 * 9 + 4 * 8 * 8 * 10
    grouped = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
    assert forward_macs(grouped, (4, 8, 8)) == 4 * 8 * 8 * 9


def test_a_run_records_the_count_and_why():
    record = sk.train(dataset="digits", model="resnet20", width=0.25, mask="random", sparsity=0.5, epochs=1,
                      max_batches=2, progress=False)
    chosen = record["environment"]["threads"]
    assert chosen["count"] == record["environment"]["torch_threads"] and chosen["reason"]
    model = build("resnet20", 10, in_channels=1, width=0.25, input_size=8)
    assert 3 * 128 * forward_macs(model, (1, 8, 8)) < threads.SMALL_STEP_MACS  # the course's smallest run
    assert chosen["count"] == 1
