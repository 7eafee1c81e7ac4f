"""Data-parallel training over a ``torch.distributed`` process group.

When a process group of more than one process is initialised (``torchrun``),
``fit`` and ``partial_fit`` train data-parallel: every rank draws the same
seed (:func:`broadcast_seed`) and so the same shuffling, keeps its own shard
of each epoch's rows (:func:`data_parallel_shard`, read by the net's batch
iterator), and averages gradients with the others (:class:`DataParallelSync`).
Outside such a group, everything here is a no-op.
"""

import torch
import torch.distributed as dist
from skorch.callbacks import Callback


def _world_size():
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def data_parallel_shard():
    """``(rank, world_size)`` inside an initialised multi-process group, else None."""
    if _world_size() > 1:
        return dist.get_rank(), dist.get_world_size()
    return None


def broadcast_seed(seed, device):
    """Rank 0's seed on every rank, so all ranks shuffle and initialise alike."""
    backend_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor([seed], dtype=torch.int64, device=backend_device)
    dist.broadcast(value, src=0)
    return int(value)


class DataParallelSync(Callback):
    """Keep the ranks of a ``torch.distributed`` process group in step.

    Every rank starts from rank 0's weights, gradients are averaged across
    ranks after each backward pass (before any gradient clipping), and the
    epoch's training loss is averaged so that early stopping decides the
    same on every rank. Together with sharded batches, all ranks hold the
    same model throughout.

    The group is looked up when each training call begins: outside a group
    of more than one process the callback does nothing, so a model trained
    data-parallel can train on alone, and the reverse.
    """

    def on_train_begin(self, net, **kwargs):
        self.world_size_ = _world_size()
        if self.world_size_ == 1:
            return
        with torch.no_grad():
            for tensor in net.module_.state_dict().values():
                dist.broadcast(tensor, src=0)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        if self.world_size_ == 1:
            return
        grads = [p.grad for _, p in named_parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size_
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def on_epoch_end(self, net, **kwargs):
        if self.world_size_ == 1:
            return
        row = net.history[-1]
        if "train_loss" in row:
            loss = torch.tensor([row["train_loss"]], dtype=torch.float64, device=net.device)
            dist.all_reduce(loss)
            net.history.record("train_loss", float(loss) / self.world_size_)
