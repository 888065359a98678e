"""Run a function as several local ranks for the multi-process tests.

The ranks are *spawned*, not forked: a test process has threads by then (TensorBoard writers of
earlier tests, torch's pools), and a child forked while another thread holds a lock can wait on
it forever (seen here: a forked rank idle at its first collective, the suite hung). And no run
of ranks may hang the suite: past `timeout` seconds they are killed and the test fails."""
import os
import socket
import sys
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, args):
    """A rank that returned leaves at once: a spawned interpreter's normal shutdown runs the
    static destructors of gloo's threads, which abort ("terminate called without an active
    exception") when the process group was not torn down (a forked child skipped them)."""
    fn(rank, *args)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_ranks(fn, args=(), nprocs: int = 2, timeout: float = 300.0) -> None:
    """fn(rank, *args) in `nprocs` spawned processes; a rank's exception is raised here."""
    import torch.multiprocessing as mp

    context = mp.start_processes(_entry, args=(fn, args), nprocs=nprocs, start_method="spawn", join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=5.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{nprocs} ranks of {fn.__name__} did not finish within {timeout:.0f} s")
