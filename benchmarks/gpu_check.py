"""GPU check: sparsekit's training step on a GPU, against a plain PyTorch loop, in at most ~5 minutes.

    python benchmarks/gpu_check.py --device cuda --amp bf16 --channels-last --num-workers 4 --pin-memory
    python benchmarks/gpu_check.py --device cpu --width 0.5 --batch-size 8 --blocks 2 --steps 2 --images 64

A CIFAR-shaped ResNet-32 (10 classes, 3x32x32 images: tensors of CIFAR's shape drawn from a
fixed seed, so nothing is downloaded) is trained at 90% ERK sparsity by sparsekit's step, and
its dense twin (same initial weights) by a plain loop, in alternating blocks on the same batches
from one DataLoader (`--num-workers`, `--pin-memory`). It prints images/s of both and their
ratio (target >= 0.95), each side's peak GPU memory, and the cost of one RigL mask update
(drop and regrow in every layer, installed as the trainer installs it), and it checks that
(a) every pruned weight is exactly zero after training and (b) the mask's hash is unchanged.
Exit status 1 when a check fails (the throughput target only reports: it is a measurement).
"""
import argparse
import os
import statistics
import sys
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step_race  # noqa: E402  (benchmarks/ is not a package)

import sparsekit as sk  # noqa: E402
from sparsekit.models import build  # noqa: E402
from sparsekit.sparsity import dynamic_sparsifier  # noqa: E402
from sparsekit.training.config import TrainConfig  # noqa: E402
from sparsekit.training.distributed import mask_hash  # noqa: E402
from sparsekit.training.state import TrainState  # noqa: E402
from sparsekit.training.trainer import ask_sparsifier  # noqa: E402

TARGET = 0.95


def cifar_shaped(images: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(images, 3, 32, 32, generator=generator),
                         torch.randint(0, 10, (images,), generator=generator))


def pruned_weights_are_zero(model, mask) -> bool:
    params = dict(model.named_parameters())
    return all(bool((params[name].detach()[~keep.to(params[name].device)] == 0).all()) for name, keep in mask.items())


def rigl_update_ms(args, device, batch, repeats: int = 3) -> float:
    """Median milliseconds of one RigL update on a fresh network, after a backward pass (RigL
    grows where the dense gradient is largest), installed by the trainer's own function."""
    torch.manual_seed(args.seed)
    model = build("resnet32", 10, in_channels=3, width=args.width).to(device)
    update_every = 10
    sparsifier = dynamic_sparsifier("rigl", model, args.sparsity, seed=args.seed,
                                    options={"update_every": update_every})
    state = TrainState(config=TrainConfig(), model=model, mask=sparsifier.initial_mask(model, None), data=None,
                       device=device, loss_fn=torch.nn.CrossEntropyLoss(), sparsifier=sparsifier,
                       total_steps=100 * update_every, optimizer=step_race.sgd(model))
    state.set_mask(state.mask)
    x, y = batch[0].to(device), batch[1].to(device)
    times = []
    for repeat in range(repeats + 1):  # the first update warms up
        state.loss_fn(model(x), y).backward()
        state.step = (repeat + 1) * update_every
        before = len(state.mask_history)
        step_race._wait(device)
        began = time.perf_counter()
        ask_sparsifier(state)
        step_race._wait(device)
        times.append(time.perf_counter() - began)
        if len(state.mask_history) == before:
            raise RuntimeError("the RigL update changed nothing: its cost was not measured")
        model.zero_grad(set_to_none=True)
    return statistics.median(times[1:]) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--pin-memory", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=8192, help="size of the seeded CIFAR-shaped data set")
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks per side")
    parser.add_argument("--steps", type=int, default=50, help="steps per block")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch", file=sys.stderr)
        return 1
    torch.manual_seed(args.seed)
    sparse_model = build("resnet32", 10, in_channels=3, width=args.width).to(device)
    dense_model = build("resnet32", 10, in_channels=3, width=args.width).to(device)
    dense_model.load_state_dict(sparse_model.state_dict())
    mask = sk.masks.compute("erk", sparse_model, args.sparsity, seed=args.seed)
    hash_before = mask_hash(mask)
    runners = [step_race.sparsekit_runner(sparse_model, mask, device, args.amp, args.channels_last),
               step_race.plain_runner(dense_model, device, args.amp, args.channels_last)]
    loader = DataLoader(cifar_shaped(args.images, args.seed), batch_size=args.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.num_workers, pin_memory=args.pin_memory and device.type == "cuda",
                        persistent_workers=args.num_workers > 0, generator=torch.Generator().manual_seed(args.seed))
    batches = step_race.forever(loader)
    memory = {}
    seconds = step_race.race(runners, batches, args.blocks, args.steps, memory=memory)
    rigl_ms = rigl_update_ms(args, device, next(batches))

    zeros_ok = pruned_weights_are_zero(sparse_model, mask)
    enforced = {name: keep.bool().cpu() for name, (_, keep) in zip(mask, runners[0].enforcer.pairs)}
    hash_ok = mask_hash(mask) == hash_before == mask_hash(enforced)
    losses_ok = all(torch.isfinite(torch.tensor(r.losses)).all() for r in runners)
    figures = {r.name: step_race.summary(seconds[r.name], args.batch_size) for r in runners}
    ratio = figures["sparsekit"]["median_images_per_s"] / figures["plain"]["median_images_per_s"]
    best_ratio = figures["sparsekit"]["best_images_per_s"] / figures["plain"]["best_images_per_s"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}); torch {torch.__version__}; ResNet-32 width {args.width}, ERK {args.sparsity}, "
          f"batch {args.batch_size}, amp {args.amp}, channels_last {args.channels_last}, "
          f"num_workers {args.num_workers}, pin_memory {args.pin_memory}; {args.blocks} alternating blocks "
          f"of {args.steps} steps per side")
    for runner in runners:
        f = figures[runner.name]
        peak = f"{memory[runner.name] / 2**20:.0f} MiB" if runner.name in memory else "n/a (not CUDA)"
        print(f"{runner.name:<9} {f['median_images_per_s']:9.0f} images/s median, {f['best_images_per_s']:9.0f} best; "
              f"{f['median_ms']:.2f} ms/step; peak GPU memory {peak}; last loss {runner.losses[-1]:.3f}")
    print(f"sparsekit / plain throughput: {ratio:.3f} median, {best_ratio:.3f} best  (target >= {TARGET}: "
          f"{'met' if ratio >= TARGET else 'NOT met'})")
    print(f"RigL update (all layers, installed): {rigl_ms:.1f} ms = "
          f"{rigl_ms / figures['sparsekit']['median_ms']:.2f} training steps")
    print(f"pruned weights exactly zero: {'yes' if zeros_ok else 'NO'}; mask hash unchanged: "
          f"{'yes' if hash_ok else 'NO'} ({hash_before[:12]}); losses finite: {'yes' if losses_ok else 'NO'}")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0 if zeros_ok and hash_ok and losses_ok else 1


if __name__ == "__main__":
    sys.exit(main())
