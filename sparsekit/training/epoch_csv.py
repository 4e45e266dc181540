"""The epoch table as CSV (`epochs.csv` in every run directory), for a spreadsheet or pandas:
one row per finished epoch, the same numbers as `record.json`'s "epochs" list."""
import csv
import io
from pathlib import Path
from typing import Dict, List

from ..core import atomic

FILENAME = "epochs.csv"


def epoch_table_csv(epochs: List[Dict]) -> str:
    """The rows as CSV text; columns in the order they first appear (callbacks may add some)."""
    columns: List[str] = []
    for row in epochs:
        columns.extend(name for name in row if name not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(epochs)
    return buffer.getvalue()


def write_epoch_csv(epochs: List[Dict], run_dir) -> Path:
    """Rewrite RUN_DIR/epochs.csv atomically (readers see the old table or the new one)."""
    return atomic.write_text(epoch_table_csv(epochs), Path(run_dir) / FILENAME)
