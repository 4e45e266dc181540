"""One rank of the data-parallel test (run by torchrun from test_data_parallel.py), or the
single-process reference: trains a small MLP on digits and saves what the test compares."""
import sys

import torch
from torch import nn

import sparsekit as sk
from sparsekit.training import distributed

# Small, without BatchNorm (whose statistics are per rank by design), so that a step on the
# split global batch is exactly the single-process step up to float rounding.
SETTINGS = dict(dataset="digits", mask="snip", sparsity=0.8, epochs=2, batch_size=32, max_batches=8, lr=0.5,
                seed=3, progress=False)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 10))


class StopAtSecondEpoch(sk.Callback):
    def on_epoch_start(self, state):
        if state.epoch == 1:
            raise KeyboardInterrupt


def run(out, result_path=None, interrupt=False, resume=False, mask=None) -> None:
    """Train; save the comparison to `result_path` (default: results_dir/rank<r>.pt). `mask`
    replaces the settings' mask method (a dynamic one, with an update every other step)."""
    callbacks = [StopAtSecondEpoch()] if interrupt else []
    settings = dict(SETTINGS, mask=mask, mask_options="update_every=2") if mask else SETTINGS
    try:
        record = sk.train(model=mlp(), out=out, resume=resume, callbacks=callbacks, **settings)
    except KeyboardInterrupt:
        sys.exit(3)
    params = dict(record.model.named_parameters())
    torch.save({"weights": {name: p.detach().clone() for name, p in params.items()},
                "mask": {name: keep.clone() for name, keep in record.mask.items()},
                "mask_hash": distributed.mask_hash(record.mask), "test_acc": record["test_acc"],
                "val_acc": record["epochs"][-1]["val_acc"], "world_size": distributed.world_size(),
                "mask_history": record["mask_history"],
                "pruned_nonzero": sum(int((params[n][~keep] != 0).sum()) for n, keep in record.mask.items())},
               result_path or f"{sys.argv[2]}/rank{distributed.rank()}.pt")


if __name__ == "__main__":
    out, results, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    run(out, interrupt=mode == "interrupt", resume=mode == "resume", mask=sys.argv[4] if len(sys.argv) > 4 else None)
