"""The `sparsekit` command line. Train options are generated from `TrainConfig`, so each
setting is declared once; every user error exits with status 2 and one `error:` line."""
import argparse
import sys
from typing import List, Optional

from .errors import SparsekitError
from .summary import format_run
from .training.config import TrainConfig, config_fields, make_config


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument gives one `error:` line rather than usage plus a message."""

    def error(self, message):
        raise SparsekitError(f"{message} (see `{self.prog} --help`)")


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    for name, default, help_text, choices in config_fields():
        flag = "--" + name.replace("_", "-")
        kind = TrainConfig.__dataclass_fields__[name].type
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif "int" in str(kind):
            parser.add_argument(flag, type=int, default=default, help=f"{help_text} (default: {default})")
        elif "float" in str(kind):
            parser.add_argument(flag, type=float, default=default, help=f"{help_text} (default: {default})")
        else:
            parser.add_argument(flag, default=default, choices=choices, help=f"{help_text} (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sparsekit", description="Train sparse neural networks better, with any mask.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a masked network and write DIR/record.json",
                                description="Train a masked network; writes --out DIR/record.json.")
    _add_train_options(train)

    commands.add_parser("list", help="list datasets, models and mask methods",
                        description="List the names --dataset, --model and --mask accept.")

    demo = commands.add_parser("demo", help="a short comparison on digits, printed as a table",
                               description="Train a few masks on digits and print the results.")
    demo.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the demo's own)")
    demo.add_argument("--out", default="runs/demo", help="where the runs' records go (default: runs/demo)")
    demo.add_argument("--progress", action=argparse.BooleanOptionalAction, default=False, help="progress bars")
    return parser


def _train(args: argparse.Namespace) -> int:
    from .training import train

    settings = {name: getattr(args, name) for name, *_ in config_fields()}
    config = make_config(**settings)
    result = train(config)
    print(format_run(result))
    if config.out:
        print(f"record: {config.out}/record.json")
    return 0


def _list(args: argparse.Namespace) -> int:
    from . import data, masks, models

    print("datasets:     " + ", ".join(data.available()))
    print("models:       " + ", ".join(models.available()))
    print("mask methods:")
    for name, summary in masks.describe().items():
        print(f"  {name:<12} {summary}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out=args.out, epochs=args.epochs, progress=args.progress)
    return 0


COMMANDS = {"train": _train, "list": _list, "demo": _demo}


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (resume with --resume --out DIR)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
