"""The report of a recipe study folder, from its run records (the logic is in
`sparsekit.report.study`, so `sparsekit report DIR` writes the same report):

    python benchmarks/study_report.py benchmarks/results/study-converged     # the pre-registered study
    python benchmarks/study_report.py benchmarks/results/study-fashion       # the earlier short schedule, labelled

Writes DIR/report.md, DIR/rows.json and the figures, and prints the report.
"""
import sys

from sparsekit.core.errors import SparsekitError
from sparsekit.report.study import write_study_report


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    try:
        print(write_study_report(argv[0]))
    except SparsekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
