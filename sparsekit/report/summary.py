"""Readable text for people: a run's epochs and results, and tables comparing runs."""
from typing import List, Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Columns aligned on the widest cell; floats shown with 4 decimals."""
    def cell(value):
        if value is None:  # a test split not evaluated that epoch (test_every="best-val")
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in text_rows]
    return "\n".join(lines)


def _shown_epochs(count: int, most: int = 10) -> List[int]:
    """At most `most` epoch indices, evenly spread, always including the last."""
    if count <= most:
        return list(range(count))
    step = count / most
    return sorted({min(count - 1, round((i + 1) * step) - 1) for i in range(most)})


def format_run(record: dict) -> str:
    config = record["config"]
    epochs = record["epochs"]
    rows = [(e["epoch"], e["train_loss"], e["train_acc"], e["val_acc"], e["test_acc"], f"{e['lr']:.4g}",
             f"{e['seconds']:.1f}") for e in (epochs[i] for i in _shown_epochs(len(epochs)))]
    head = (f"{config['model']} on {config['dataset']}, mask {record['mask_source']['method']}, "
            f"density {record['density']:.4f} (sparsity {record['sparsity']:.4f})")
    table = format_table(["epoch", "train_loss", "train_acc", "val_acc", "test_acc", "lr", "sec"], rows)
    shown = len(_shown_epochs(len(epochs)))
    if shown < len(epochs):  # say so: a table that silently skips rows reads as a bug
        table += (f"\n({shown} of {len(epochs)} epochs shown, evenly spread; all are in record['epochs'], "
                  f"and in epochs.csv of a run with out=)")
    tail = (f"final test acc {record['test_acc']:.4f}; test acc at best validation epoch "
            f"{record['best_val_epoch']}: {record['best_val_test_acc']:.4f}; {record['seconds']:.1f} s")
    return "\n".join([head, table, tail])
