"""Data-parallel inference under `accelerate launch` (or torchrun): one process per device, clips sharded.

    accelerate launch --num_processes 8 -m r1omni eval manifest.csv --json        # one node, 8 GPUs
    accelerate launch --config_file training/accelerate/cpu_2proc.yaml -m r1omni eval manifest.csv

`Shards.from_env(device)` reads the launcher's environment (WORLD_SIZE, RANK, LOCAL_RANK; nothing is
initialised for a plain single process) and joins the process group through accelerate's `PartialState`
(NCCL on GPUs, gloo on CPU). `shard(items)` gives this process its strided share of the items with their
global indices; `gather(indexed)` returns every process's results in the items' original order, on every
rank, so the main process can write the one report (and the one store). Knows nothing about models.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def launched_world_size() -> int:
    """Number of processes the launcher started (1 when run directly)."""
    for var in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(var):
            return max(1, int(os.environ[var]))
    return 1


@dataclass(frozen=True)
class Shards:
    """This process's place among `size` data-parallel processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "auto"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto") -> Shards:
        """The current process's shard; under a launcher with CUDA, `device` becomes `cuda:<local rank>`."""
        if launched_world_size() == 1:
            return cls(device=device)
        import torch
        from accelerate import PartialState

        use_cuda = device in (None, "auto") or str(device).startswith("cuda")
        use_cuda = use_cuda and torch.cuda.is_available()
        state = PartialState(cpu=not use_cuda)
        local = int(state.local_process_index)
        return cls(int(state.process_index), int(state.num_processes), local,
                   f"cuda:{local}" if use_cuda else "cpu")

    def shard(self, items: Sequence[T]) -> list[tuple[int, T]]:
        """(global index, item) for this process: items rank, rank + size, ... (balanced to one item)."""
        return [(i, items[i]) for i in range(self.rank, len(items), self.size)]

    def gather(self, indexed: Sequence[tuple[int, Any]]) -> list[Any]:
        """Every process's (index, result) pairs -> the results ordered by index, on every rank.

        Results must be picklable (plain dicts here). A collective: every rank must call it.
        """
        pairs = list(indexed)
        if self.size > 1:
            import torch.distributed as dist

            parts: list[Any] = [None] * self.size
            dist.all_gather_object(parts, pairs)
            pairs = [p for part in parts for p in part]
        return [r for _, r in sorted(pairs, key=lambda p: p[0])]

    def barrier(self) -> None:
        if self.size > 1:
            import torch.distributed as dist

            dist.barrier()
