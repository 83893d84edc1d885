"""Helpers that run a test body in two forked gloo ranks on the CPU, for metrics that synchronise across ranks."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_ranks(worker: Callable, *args) -> list:
    """Run ``worker(rank, port, *args, queue)`` in two forked gloo ranks; return what they put, sorted by rank."""
    queue = mp.get_context("fork").Queue()
    context = mp.start_processes(worker, args=(free_port(), *args, queue), nprocs=2, join=False, start_method="fork")
    deadline = time.monotonic() + 60
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise RuntimeError("The two DDP ranks did not finish within 60 s.")
    return sorted(queue.get(timeout=10) for _ in range(2))


@contextlib.contextmanager
def gloo_rank(rank: int, port: int) -> Iterator[None]:
    """Join a two-rank gloo process group on ``port`` for the ``with`` block, then leave it."""
    # A forked child must not enter the OpenMP pool the parent started, so it runs single-threaded.
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        yield
    finally:
        dist.destroy_process_group()
