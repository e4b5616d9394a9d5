"""Where the experiments' seeds run (``app.experiments.executor``): here, in worker
processes, or handed to a Dask cluster, with the same results and resumable files."""

from __future__ import annotations

import pytest

from app.experiments import executor, lab
from tests.app.test_experiment_lab import SMALL, synthetic

distributed = pytest.importorskip("distributed")

ARMS = ("random", "sharp", "coin_flip")


def _without_timing(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


@pytest.fixture(scope="module")
def cluster():
    """A Dask scheduler and two single-threaded workers in this process (no network beyond loopback)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None,
                                  host="127.0.0.1") as c:
        yield c.scheduler_address


def test_a_sweep_handed_to_a_dask_cluster_gives_the_results_of_a_local_one(tmp_path, cluster):
    inputs = synthetic(n=200, seed=3)
    path = tmp_path / "inputs.npz"
    inputs.save(path)
    here = lab.run_seeds(path, tmp_path / "here", range(4), ARMS, SMALL, workers=1, progress=False)
    there = lab.run_seeds(path, tmp_path / "dask", range(4), ARMS, SMALL, cluster=cluster, progress=False)
    assert _without_timing(there) == _without_timing(here)
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == [f"seed-{s:04d}.json" for s in range(4)]


def test_a_resumed_sweep_sends_only_the_missing_jobs(tmp_path, cluster):
    done: list[int] = []
    executor.run_jobs(_record, [(tmp_path, k) for k in range(5)], cluster=cluster, done=lambda: done.append(1))
    assert sorted(int(p.stem) for p in tmp_path.iterdir()) == list(range(5)) and len(done) == 5
    inputs = synthetic(n=200, seed=3)
    path = tmp_path / "inputs.npz"
    inputs.save(path)
    folder = tmp_path / "seeds"
    lab.run_seeds(path, folder, [0, 1], ARMS, SMALL, cluster=cluster, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    lab.run_seeds(path, folder, [0, 1, 2], ARMS, SMALL, cluster=cluster, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert {k: after[k] for k in before} == before and set(after) - set(before) == {"seed-0002.json"}


def _record(folder, k: int) -> int:
    (folder / f"{k}.txt").write_text(str(k))
    return k


def test_a_job_that_fails_stops_the_sweep_with_its_error(tmp_path, cluster):
    with pytest.raises(ZeroDivisionError):
        executor.run_jobs(_divide, [(1, 1), (1, 0)], cluster=cluster)
    with pytest.raises(ZeroDivisionError):
        executor.run_jobs(_divide, [(1, 1), (1, 0)], workers=1)


def _divide(a: int, b: int) -> float:
    return a / b


def test_a_scheduler_that_does_not_answer_is_a_clear_error():
    with pytest.raises(executor.ClusterUnavailable, match="--cluster: no Dask scheduler answered at 'tcp://127.0.0.1:9'"):
        with executor.executor(1, 2, "tcp://127.0.0.1:9", timeout_s=1):
            pass
