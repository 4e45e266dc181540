"""The identifiers of the files sparsekit writes, and the other identifiers each kind reads.

An identifier names a kind of file and its version: a constant string, never derived from where
the code that writes it lives, so moving a module cannot change what its files say they are or
stop them loading. Each kind reads what it writes and every other identifier files of that
kind were written with; tests/fixtures/ holds one small file per identifier, and
tests/test_file_formats.py loads each.
"""
from typing import Any, Dict, Tuple

from .errors import SparsekitError

MASK = "sparsekit.mask/1"
CHECKPOINT = "sparsekit.checkpoint/1"
LOTTERY_STATE = "sparsekit.lottery/1"
RECORD = "sparsekit.record/1"
# Also spelled out in export/runtime.py, which imports nothing of sparsekit (a test holds them equal).
EXPORTED = "sparsekit.exported/1"
NOTEBOOK_RESULT = "sparsekit.notebook-result/1"  # written for the test suite; the kit never reads it
# A study's answer file (answer.json), written by the study's code (`study/`, outside the package)
# and read by the package's course notebooks (`report.study_evidence`).
STUDY_ANSWER = "sparsekit-study-answer/1"
# The converged study's addendum's answer file (its folder's answer.json), written and read the same way.
STUDY_ADDENDUM_ANSWER = "sparsekit-study-addendum-answer/1"

# kind -> (what is written today, then the identifiers earlier versions wrote for the same content).
READS: Dict[str, Tuple[str, ...]] = {
    "mask": (MASK, "sparsekit.core.mask/1"),  # the second: what mask files of late November 2026 say
    "checkpoint": (CHECKPOINT,),
    "lottery state": (LOTTERY_STATE,),
    "run record": (RECORD,),
    "exported network": (EXPORTED,),
    "notebook result": (NOTEBOOK_RESULT,),
    "study answer": (STUDY_ANSWER,),
    "study addendum answer": (STUDY_ADDENDUM_ANSWER,),
}


def found_format(data: Any):
    """The identifier a loaded file carries (its "format" entry), or None."""
    return data.get("format") if isinstance(data, dict) else None


def is_kind(data: Any, kind: str) -> bool:
    return found_format(data) in READS[kind]


def check(data: Any, kind: str, source) -> None:
    """Raise one line naming the format found and the ones this sparsekit reads, unless `data`
    (a loaded file) is of one of `kind`'s formats."""
    if not is_kind(data, kind):
        raise SparsekitError(f"{source}: not a sparsekit {kind} file: {describe_found(data)}; this sparsekit reads "
                             f"{kind} formats {', '.join(READS[kind])}")


def describe_found(data: Any) -> str:
    found = found_format(data)
    if found is not None:
        return f"its format is {found!r}"
    return "it has no format entry" if isinstance(data, dict) else f"it holds a {type(data).__name__}"

