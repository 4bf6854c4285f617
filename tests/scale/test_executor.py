"""The task layer itself, without a cluster: task cutting, the shared-folder check, the local pool, errors."""

from __future__ import annotations

import os

import pytest

from mer_builder.errors import InputError, RunFailure
from mer_builder.parallel import (
    MAX_TASK_ITEMS,
    PROBE_PREFIX,
    LocalExecutor,
    SharedFilesystemError,
    SharedFolder,
    check_shared,
    cut_tasks,
    open_executor,
    task_size,
)


def test_tasks_are_consecutive_groups_covering_every_item_once():
    items = list(range(103))
    tasks = cut_tasks(items, 10)
    assert [len(t) for t in tasks] == [10] * 10 + [3]
    assert [x for t in tasks for x in t] == items
    assert cut_tasks([], 5) == [] and cut_tasks([1, 2], 0) == [[1], [2]]


def test_task_size_gives_every_worker_several_tasks_and_caps_their_length():
    assert task_size(100_000, 2) == MAX_TASK_ITEMS  # long runs: tasks of at most a few seconds
    assert task_size(160, 2) == 10  # 16 tasks for 2 workers: the tail stays balanced
    assert task_size(3, 4) == 1


def test_check_shared_names_the_folder_the_worker_cannot_see(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "RAVDESS").mkdir()
    check_shared([SharedFolder("--raw_dir", str(tmp_path / "raw"), ("RAVDESS",))], "dask")
    missing = SharedFolder("--raw_dir", str(tmp_path / "nowhere"))
    with pytest.raises(SharedFilesystemError, match=r"cannot see --raw_dir .*nowhere: --backend ray needs") as err:
        check_shared([missing], "ray")
    assert isinstance(err.value, RunFailure) and err.value.exit_code == 1  # one line `error: ...`, exit 1
    empty = tmp_path / "empty"  # what a worker with its own (empty) folder at the same path sees
    empty.mkdir()
    with pytest.raises(SharedFilesystemError, match="cannot see --out_dir"):
        check_shared([SharedFolder("--out_dir", str(empty), (f"{PROBE_PREFIX}abc",))], "dask")


def _square_all(task: list[int]) -> list[int]:
    return [x * x for x in task]


def _pid(task: list[int]) -> list[int]:
    return [os.getpid()] * len(task)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_runs_every_task_once(workers):
    with LocalExecutor(workers) as executor:
        results = [x for batch in executor.map_tasks(_square_all, cut_tasks(list(range(50)), 4)) for x in batch]
        pids = {p for batch in executor.map_tasks(_pid, cut_tasks(list(range(8)), 1)) for p in batch}
    assert sorted(results) == [x * x for x in range(50)]
    assert (pids == {os.getpid()}) == (workers == 1)  # one worker runs in-process, more run in a pool


def test_open_executor_rejects_what_cannot_work(tmp_path):
    with pytest.raises(InputError, match="--backend must be one of local, dask, ray, got 'loky'"):
        open_executor("loky")
    with pytest.raises(InputError, match="--scheduler is the address of a Dask scheduler"):
        open_executor("local", 2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match="--num_workers must be at least 1"):
        open_executor("local", 0)
    assert isinstance(open_executor("local", 2), LocalExecutor)
