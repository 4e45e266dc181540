"""Data-parallel training under torch.distributed (`torchrun --nproc-per-node N -m sparsekit
train ...`), kept to the few places the trainer must know about ranks:

- the mask is computed once, on rank 0, and sent to every rank; each rank checks that the
  mask it trains with has the same hash as rank 0's, now and whenever a mask is installed;
- the weights after the recipe's setup are rank 0's (an init that reads data sees rank 0's);
- every global batch (the `batch_size` setting, the same order as one process) is split
  row-wise across the ranks; the gradients are summed weighted by each rank's share, so a
  step is the single-process step on the global batch (BatchNorm statistics excepted: each
  rank normalises its own rows, as DistributedDataParallel does by default);
- evaluation sums correct answers and losses over ranks; only rank 0 writes files.

One process, no torchrun: every function here is a no-op.
"""
import hashlib
import os
from typing import Callable, Optional

import torch
import torch.distributed as dist

from ..core.errors import SparsekitError


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def launched() -> bool:
    """Whether this process is one rank of several: joined already, or about to be (torchrun's
    environment says so), so a check can refuse what a data-parallel run cannot do before it joins."""
    return active() or int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def setup(device_name: str) -> None:
    """Join the process group torchrun describes in the environment (gloo on CPU, NCCL on
    CUDA), unless one is already set up or this is a single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return
    cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")


def join(device_name: str) -> torch.device:
    """The device this rank trains on (`cpu`, `cuda`, `cuda:N` or `auto`; a bare `cuda` is this
    rank's GPU), after joining the ranks torchrun describes (nothing to do in one process). A
    name that names no usable device fails with one line before anything is joined."""
    device = _device(device_name)
    setup(str(device))
    return local_device(device)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SparsekitError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SparsekitError("device 'cuda' asked for, but no CUDA GPU is available; use --device cpu")
    return device


def leave() -> None:
    """Leave the process group (the end of a `sparsekit train` under torchrun)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """A bare `cuda` means this rank's GPU (LOCAL_RANK) when running data-parallel."""
    if active() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def barrier() -> None:
    if active():
        dist.barrier()


def from_main(make: Callable):
    """`make()` run on rank 0 only; its result (any picklable object) returned on every rank."""
    if not active():
        return make()
    box = [make() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mask_hash(mask) -> str:
    digest = hashlib.sha256()
    for name in sorted(mask):
        keep = mask[name].detach().to("cpu", torch.bool).contiguous()
        digest.update(name.encode() + str(tuple(keep.shape)).encode() + keep.numpy().tobytes())
    return digest.hexdigest()


def check_same_mask(mask) -> None:
    """Every rank trains the mask rank 0 trains, or the run stops with one error line."""
    if not active():
        return
    hashes = [None] * world_size()
    dist.all_gather_object(hashes, mask_hash(mask))
    different = [r for r, h in enumerate(hashes) if h != hashes[0]]
    if different:
        raise SparsekitError(f"data-parallel ranks disagree on the mask: rank {different[0]}'s differs from rank 0's")


@torch.no_grad()
def broadcast_model(model: torch.nn.Module, buffers_only: bool = False) -> None:
    """Rank 0's parameters (and buffers: BatchNorm's running statistics) on every rank."""
    if not active():
        return
    tensors = list(model.buffers()) if buffers_only else list(model.parameters()) + list(model.buffers())
    for tensor in tensors:
        dist.broadcast(tensor.data, src=0)


def shard_batches(data) -> None:
    """Each rank reads rows rank, rank + N, ... of every batch of every split."""
    if active():
        for split in (data.train, data.val, data.test):
            split.shard(rank(), world_size())


def average_gradients(model: torch.nn.Module, local_examples: int) -> None:
    """Gradients of the global batch's mean loss: each rank's (a mean over its rows) weighted
    by its row count, summed over ranks in one all-reduce, divided by the global count."""
    if not active():
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads] + [torch.ones(1, device=grads[0].device)]) * local_examples
    dist.all_reduce(flat)
    flat = flat[:-1] / flat[-1]
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def sum_over_ranks(*values: torch.Tensor):
    """Tensors summed over ranks (in one all-reduce), as float64 numbers on every rank."""
    if not active():
        return values
    # NCCL reduces GPU tensors only; gloo takes CPU ones.
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64).reshape(()).to(device) for v in values])
    dist.all_reduce(stacked)
    return tuple(stacked.unbind())


def gradient_sync() -> Optional[Callable]:
    """What `train_step` calls between backward and the masked update (None: one process)."""
    return average_gradients if active() else None
