"""Where an experiment's jobs run: here, in this machine's worker processes, or on a Dask
cluster.

A sweep is a list of independent jobs (one seed of one data set), each a top-level
function that writes its result file under ``data/experiments`` and returns, so a sweep
that stops resumes from the files. On one machine the jobs run in ``workers`` spawned
processes. When one machine is not enough, ``--cluster ADDRESS`` hands the same jobs to a
running Dask scheduler through ``distributed``'s ``concurrent.futures`` executor; nothing
here schedules, retries or places work. The cluster's workers must run this
repository's code (``pip install -e ".[all]"``) and see its ``data/`` folder at the same
path, since the jobs read the cached pools, features and reference log-probs there and
write their results there (a shared file system, as on an HPC cluster started with
dask-jobqueue). Start one by hand with ``dask scheduler`` and ``dask worker ADDRESS
--nthreads 1`` on each machine (one thread a worker: each job uses the cores torch gives it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context

CONNECT_TIMEOUT_S = 20.0


class ClusterUnavailable(ValueError):
    """``--cluster`` names no scheduler that answers, or Dask is not installed."""


@contextmanager
def executor(workers: int, jobs: int, cluster: str | None = None, *,
             timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Executor | None]:
    """An executor for ``jobs`` jobs, or None when they run here one after another
    (``timeout_s``: how long to wait for the scheduler to answer)."""
    if cluster:
        try:
            from distributed import Client
        except ImportError:
            raise ClusterUnavailable("--cluster: needs Dask; install it with pip install -e '.[cluster]'") from None
        try:
            client = Client(cluster, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterUnavailable(
                f"--cluster: no Dask scheduler answered at {cluster!r} within {timeout_s:g} s ({exc}); "
                "give the address `dask scheduler` printed, such as tcp://10.0.0.5:8786") from None
        with client:
            # pure=False: a job is run each time it is submitted (Dask would otherwise key
            # equal arguments to one result)
            yield client.get_executor(pure=False)
        return
    if workers > 1 and jobs > 1:
        with ProcessPoolExecutor(max_workers=min(workers, jobs), mp_context=get_context("spawn")) as pool:
            yield pool
        return
    yield None


def run_jobs(fn: Callable[..., object], jobs: Sequence[tuple], *, workers: int = 1, cluster: str | None = None,
             done: Callable[[], object] = lambda: None) -> None:
    """``fn(*job)`` for every job, here or in the executor (:func:`executor`); ``done()``
    after each one finishes. The first job to raise stops the sweep with its error."""
    with executor(workers, len(jobs), cluster) as pool:
        if pool is None:
            for job in jobs:
                fn(*job)
                done()
            return
        for future in as_completed([pool.submit(fn, *job) for job in jobs]):
            future.result()
            done()
