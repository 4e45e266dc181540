"""The `sparsekit` command line. Train options are generated from `TrainConfig`, so each
setting is declared once; every user error exits with status 2 and one `error:` line."""
import argparse
import os
import sys
from typing import List, Optional

from ..core.errors import SparsekitError
from .arguments import OneLineParser
from ..core.registry import Registry
from ..report.summary import format_run
from ..training.config import config_fields, make_config, names_with

INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)
READER_GONE = 141  # the exit status of a command whose reader closed the pipe (128 + SIGPIPE)


def _add_option(parser, name: str, kind, default, help_text: str, choices, shown_default=None) -> None:
    """One flag for one dataclass field, typed from the field's declared type."""
    flag = "--" + name.replace("_", "-")
    help_text = f"{help_text} (default: {default if shown_default is None else shown_default})"
    if "bool" in str(kind):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif "int" in str(kind):
        parser.add_argument(flag, type=int, default=default, help=help_text)
    elif "float" in str(kind):
        parser.add_argument(flag, type=float, default=default, help=help_text)
    else:
        parser.add_argument(flag, default=default, choices=choices, help=help_text)


def _add_train_options(parser: argparse.ArgumentParser, only=None) -> None:
    """One flag per `TrainConfig` setting (or per setting named in `only`)."""
    for name, kind, default, help_text, choices in config_fields():
        if only is None or name in only:
            _add_option(parser, name, kind, default, help_text, choices)


# The settings that decide a mask (model, its init seed, the data it sees, the method's options).
MASK_SETTINGS = tuple(name for name in names_with("shapes_mask") if name not in ("mask", "mask_file"))


def _add_mask_options(parser: argparse.ArgumentParser) -> None:
    # `--method` reads as well here (it names nothing else in this command); `--mask` as in `train`.
    parser.add_argument("--mask", "--method", dest="mask", default="random",
                        help="mask method (see `sparsekit list`) (default: random)")
    parser.add_argument("--out", required=True, help="file to write the mask to (e.g. masks/snip90.pt)")
    parser.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                        help="replace --out if it exists (default: False)")
    _add_train_options(parser, only=MASK_SETTINGS)


def _add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """--recipe picks a preset; each recipe field's flag, when given, overrides it."""
    from ..recipe.settings import PRESETS, recipe_fields

    parser.add_argument("--recipe", default="default", choices=PRESETS,
                        help="ToST recipe preset: 'default' (no tricks), 'tost' (all four, ghosts in the early phase: "
                             "the abstract) or 'tost-release' (all four, ghosts all run: the public release) "
                             "(default: default)")
    for name, kind, _, help_text, choices in recipe_fields():
        _add_option(parser, name, kind, None, help_text, choices, shown_default="from --recipe")


def _recipe_from_args(args: argparse.Namespace):
    from ..recipe import Recipe, recipe_fields

    given = {name: getattr(args, name) for name, *_ in recipe_fields() if getattr(args, name) is not None}
    return Recipe.preset(args.recipe).with_changes(**given)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sparsekit", description="Train sparse neural networks better, with any mask.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    train = commands.add_parser("train", help="train a masked network and write DIR/record.json",
                                description="Train a masked network; writes --out DIR/record.json.")
    _add_train_options(train)
    _add_recipe_options(train)

    commands.add_parser("list", help="list datasets, models, mask methods, distributions and patterns",
                        description="List the names --dataset, --model, --mask and --distribution accept, "
                                    "and the --pattern syntax.")

    demo = commands.add_parser("demo", help="a short comparison on digits, printed as a table",
                               description="Train a few masks on digits and print the results.")
    demo.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the demo's own)")
    demo.add_argument("--out", default="runs/demo", help="where the runs' records go (default: runs/demo)")
    demo.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                      help="a progress bar over the runs")
    mask = commands.add_parser("mask", help="compute a mask and save it to a file",
                               description="Compute a mask as `sparsekit train` would, save it (use it "
                                           "with train --mask-file FILE) and print its layer table.")
    _add_mask_options(mask)

    export = commands.add_parser("export", help="export a finished run for fast CPU inference",
                                 description="Fold BN and kept ghosts, remove dead units, store the weights "
                                             "sparse and pick dense or sparse kernels per layer by timing them; "
                                             "load the file with sparsekit.load_exported(FILE).")
    export.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (record.json, model.pt, mask.pt)")
    export.add_argument("--out", required=True, help="file to write the exported network to (e.g. model.skx)")
    export.add_argument("--batch-size", type=int, default=1, help="batch size to time the kernels at (default: 1)")
    export.add_argument("--onnx", default=None, help="also write the dense-equivalent network as ONNX, checked "
                                                     "with onnxruntime (default: no ONNX file)")
    export.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                        help="replace --out / --onnx if they exist (default: False)")
    _add_scale_commands(commands)
    notebooks = commands.add_parser("notebooks", help="execute the course notebooks with papermill (from the "
                                    "repository's root); `sparsekit notebooks --help` for its options",
                                    add_help=False)
    notebooks.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


def _add_scale_commands(commands) -> None:
    from .sweeps.backends import BACKENDS

    sweep = commands.add_parser("sweep", help="train every point of a grid (a TOML file), resumably",
                                description="Train every point of SPEC.toml's [grid] (lists crossed) with its "
                                            "[fixed] settings, once per seed of [sweep] seeds and with each recipe "
                                            "of [recipes] (one mask per point and seed), one run directory per "
                                            "run; rerunning skips finished runs and resumes interrupted ones.")
    sweep.add_argument("spec", metavar="SPEC.toml", help="the sweep file ([grid], [fixed], optional [sweep] and "
                                                         "[recipes])")
    sweep.add_argument("--out", default=None, help="folder for the runs (default: [sweep] out, else runs/SPEC)")
    sweep.add_argument("--backend", default=None, choices=BACKENDS, help="where runs execute (default: local)")
    sweep.add_argument("--workers", type=int, default=None, help="local: worker processes (default: one per "
                                                                 "core); ray: CPUs of a Ray started here")
    sweep.add_argument("--address", default=None, help="ray: the address of an existing cluster, e.g. auto")
    sweep.add_argument("--cpus-per-run", type=float, default=None, help="ray: CPUs each run asks for (default: 1)")
    sweep.add_argument("--gpus-per-run", type=float, default=None, help="ray: GPUs each run asks for (default: 0)")
    sweep.add_argument("--overwrite", action="store_true", help="train every run anew, finished or not")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and their directories; train nothing")
    sweep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar")
    report = commands.add_parser("report", help="tables and figures of the runs under a folder",
                                 description="Write DIR/report.md (mean ± std over seeds, recipe − default "
                                             "paired by seed), DIR/results.csv and the figures; print the table. "
                                             "A study folder (plan.json) keeps its own report "
                                             "(`python -m study.report DIR`): give --out to table its runs.")
    report.add_argument("directory", metavar="DIR", help="a folder of runs (a sweep's out) or a study folder")
    report.add_argument("--out", default=None, help="where to write the report (default: DIR)")
    report.add_argument("--metric", default=None, help="the accuracy compared (default: best_val_test_acc)")
    rerun = commands.add_parser("rerun", help="train a recorded run again and compare its numbers",
                                description="Rebuild a run's settings, recipe and mask from its record.json, "
                                            "train it again with the recorded torch thread count, and print the "
                                            "recorded metrics beside the new ones (same machine, code and "
                                            "threads: the same numbers).")
    rerun.add_argument("record", metavar="RECORD", help="a run's record.json (or its folder)")
    rerun.add_argument("--out", required=True, help="folder for the new run")
    rerun.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                       help="replace --out if it holds a run (default: False)")
    rerun.add_argument("--data-root", default=None, help="where the datasets are, when not where the record's run "
                                                         "found them (default: the record's)")
    rerun.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar (default: the record's setting)")


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .sweeps import GridInterrupted, read_spec, sweep
    from .sweeps.shared_masks import shared
    from .sweeps.spec import check_sweep_options
    from .sweeps.spec_file import runs, sweep_options

    spec = read_spec(args.spec)
    given = {"out": args.out, "backend": args.backend, "workers": args.workers, "address": args.address,
             "cpus_per_run": args.cpus_per_run, "gpus_per_run": args.gpus_per_run}
    spec.update({key: value for key, value in given.items() if value is not None})
    check_sweep_options(**sweep_options(spec))  # --dry-run too
    spec.setdefault("out", str(Path("runs") / Path(args.spec).stem))
    if args.dry_run:
        for group in runs(spec):
            for index, point in enumerate(group):
                mask_of = f"  (trains the mask of {group[0].name})" if index and shared(group) else ""
                print(f"{Path(spec['out']) / point.name}{mask_of}")
        return 0
    try:
        result = sweep(progress=args.progress, overwrite=args.overwrite, **spec)
    except GridInterrupted as stopped:  # the grid's own line: what finished and how to go on
        print(stopped.line(again=f"run `sparsekit sweep {args.spec}` with the same options again"), file=sys.stderr)
        return INTERRUPTED
    print(result.summary())
    print(f"runs: {result.out}/*/record.json; tables: sparsekit report {result.out}")
    return 1 if result.failures else 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..report.run_report import write_report

    out = Path(args.out or args.directory)
    if (Path(args.directory) / "plan.json").is_file() and out.resolve() == Path(args.directory).resolve():
        # a study folder's report.md is the study's own (`study/report.py`): never overwritten by this table
        raise SparsekitError(f"{args.directory} is a study folder (plan.json): its report is written by "
                             f"`python -m study.report {args.directory}` from the repository root; "
                             f"`sparsekit report {args.directory} --out OTHER` tables its runs like any folder's")
    print(write_report(args.directory, out=args.out, metric=args.metric or "best_val_test_acc"), end="")
    print(f"written: {out}/report.md, results.csv and figures")
    return 0


def _rerun(args: argparse.Namespace) -> int:
    from ..runs.rerun import describe, rerun

    changes = {name: value for name, value in (("data_root", args.data_root), ("progress", args.progress))
               if value is not None}
    record, again = rerun(args.record, args.out, overwrite=args.overwrite, **changes)
    print(describe(record, again))
    print(f"record: {args.out}/record.json")
    return 0


def _train(args: argparse.Namespace) -> int:
    from ..runs import train

    settings = {name: getattr(args, name) for name, *_ in config_fields()}
    config = make_config(**settings)
    recipe = _recipe_from_args(args)
    from ..training import distributed

    try:
        result = train(config, recipe=recipe)
        if distributed.is_main():  # under torchrun, one rank reports
            print(f"recipe: {recipe.describe()}")
            print(format_run(result))
            if config.out:
                print(f"record: {config.out}/record.json")
    finally:
        distributed.leave()
    return 0


def _list(args: argparse.Namespace) -> int:
    from .. import data, models
    from ..runs import mask_sources
    from ..sparsity import SCHEDULES, distributions, patterns, registry

    print("datasets:     " + ", ".join(data.available()))
    print("models:       " + ", ".join(models.available()))
    print("other networks (--model PACKAGE:NAME, any classifier of the package, untrained; families tested on "
          "small instances of their classes, or refused):")
    for family in models.external.FAMILIES:
        name = f"{family.package}:{family.example}"
        print(f"  {'tested' if family.works else 'refused':<8} {name:<32} {family.note}")
    rows = mask_sources.method_rows()
    for kind in sorted({row["kind"] for row in rows}, key=lambda k: (k != "score", k != "training", k)):
        print(f"{kind} methods (--mask; their options go in --mask-options):")
        for row in (r for r in rows if r["kind"] == kind):
            print(f"  {row['name']:<12} {row['summary']}")
            print(f"  {'':<12} options: {', '.join(row['options']) or 'none'}; "
                  f"{_layout_support(row)}")
    # Any other table the method registry keeps (e.g. schedules), listed the same generic way.
    for table in (v for v in vars(registry).values() if isinstance(v, Registry) and v is not registry.METHODS):
        print(f"{table.kind}s:")
        for name in table.names():
            print(f"  {name}")
    print("distributions (--distribution; default: the method's own):")
    for name, summary in distributions.DISTRIBUTIONS.items():
        print(f"  {name:<12} {summary}")
    print("schedules (--schedule):")
    for name, summary in SCHEDULES.items():
        print(f"  {name:<12} {summary}")
    print(f"patterns (--pattern):  {patterns.SYNTAX}; sparsity is then 1 - N/M")
    return 0


def _layout_support(row: dict) -> str:
    distributions = ", ".join(row["distributions"]) or "its own (see its options)"
    default = f" (default {row['default_distribution']})" if row.get("default_distribution") else ""
    return f"distribution: {distributions}{default}; N:M pattern: {'yes' if row['pattern'] else 'no'}"


def _mask(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..analysis.mask_summary import PATH_WORDS
    from ..analysis.paths import Connectivity, connectivity
    from ..training.run_dir import check_file_location
    from ..training.setup import input_shape
    from ..runs import mask_sources
    from ..runs.launch import prepare

    config = make_config(mask=args.mask, progress=False, **{name: getattr(args, name) for name in MASK_SETTINGS})
    mask_sources.check(config, mask_given=False)
    check_file_location(args.out)
    if Path(args.out).exists() and not args.overwrite:
        raise SparsekitError(f"{args.out} already exists; pass --overwrite to replace it, or choose another --out")
    data, model, mask, _ = prepare(config)
    mask.save(args.out)
    print(mask.format_table())
    shape = input_shape(model, data)
    path, effective = connectivity(model, mask, shape) if shape else Connectivity(None, None)
    print(f"path from input to output: {PATH_WORDS[path]}")
    if effective is not None and mask.num_total():
        print(f"effective density: {effective.density():.4f} ({effective.num_kept()} of {mask.num_kept()} kept weights "
              "lie on a path from input to output)")
    print(f"mask: {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..export import export
    from ..export.onnx_check import write_onnx
    from ..export.run_dir import check_targets, load_run

    check_targets(args.run_dir, args.out, args.onnx, args.overwrite)
    model, mask, input_shape = load_run(args.run_dir)
    net = export(model, mask, batch_size=args.batch_size, path=args.out, input_shape=input_shape)
    report = net.report
    sparse = sum(1 for row in report["kernels"].values() if row["kernel"] != "dense")
    print(f"weights: {report['nonzero_masked']} kept by the mask, {report['nonzero_after_fold']} after folding "
          f"ghost skips, {report['nonzero_stored']} stored after removing dead units ({report['weights_total']} dense)")
    print(f"kernels at batch {args.batch_size}: {sparse} sparse, {len(report['kernels']) - sparse} dense")
    print(f"exported: {args.out} ({Path(args.out).stat().st_size} bytes)")
    if args.onnx:
        difference = write_onnx(net.payload, args.onnx, args.batch_size)
        print(f"onnx: {args.onnx} (onnxruntime vs PyTorch max |logit difference| {difference:.2g})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out=args.out, epochs=args.epochs, progress=args.progress)
    return 0


def _notebooks(arguments: List[str]) -> int:
    from .notebook_runner import main as run_notebooks

    return run_notebooks(arguments)


COMMANDS = {"train": _train, "list": _list, "demo": _demo, "mask": _mask, "export": _export, "sweep": _sweep,
            "report": _report, "rerun": _rerun}


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        status = _run(argv)
        sys.stdout.flush()  # now, so that a reader gone is met by the handler below, not at exit
        return status
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: interrupted{_resume_hint(argv)}", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return _reader_gone()


def _run(argv: List[str]) -> int:
    if argv[:1] == ["notebooks"]:  # the runner's own options, passed through whole
        return _notebooks(argv[1:])
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


def _reader_gone() -> int:
    """The output's reader stopped reading (`sparsekit ... | head`): the reader's choice, not an
    error to report. Standard output is pointed at the null device first, or the interpreter's
    own flush at exit would fail on the closed pipe and print a traceback after all."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)
    return READER_GONE


def _resume_hint(argv: Optional[List[str]]) -> str:
    """How to continue, but only when the run saved a checkpoint: before its first epoch ends
    there is nothing to resume, and --resume would fail."""
    from pathlib import Path

    from ..training.checkpoint import FILENAME as CHECKPOINT

    try:
        args = build_parser().parse_args(argv)
    except SparsekitError:
        return ""
    out = getattr(args, "out", None) if args.command == "train" else None
    if out and (Path(out) / CHECKPOINT).exists():
        return f" (continue it with the same command plus --resume; the checkpoint is in {out})"
    return ""


if __name__ == "__main__":
    sys.exit(main())
