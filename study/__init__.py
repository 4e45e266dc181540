"""The converged study of the ToST recipe, kept apart from the engine (`sparsekit/`): its plan
logic, its runner, its commits of finished records and its report. Run from the repository root:

    python -m study.converged grid --items 1 2 3               # the runner (resumable)
    python -m study.commit benchmarks/results/study-converged  # commit finished records
    python -m study.report benchmarks/results/study-converged  # report.md from the records
    python -m study.addendum run                               # the addendum (issue 52), its own plan
    python -m study.addendum_report benchmarks/results/study-addendum  # its report.md, answer.json
    python -m study.readme                                     # the README's verdict, from both answers

It imports the engine; the engine never imports it. The records stay under
`benchmarks/results/study-*/`; the package reads the committed study from those files alone.
"""
