"""What each line of the README's quick start and command-line block costs: runs them as written,
one statement (or one command) at a time, in a scratch folder, and prints each one's wall-clock
and CPU seconds with the date, the load average and the thread count the kit chose.

    python benchmarks/readme_costs.py [--part python|cli|both]

Run it from the repository's root after `make setup`. The CLI lines run through `.venv/bin`
(the README says to `source .venv/bin/activate` first), so that folder must exist. On one
thread a line's CPU seconds are about its wall-clock time on an idle machine; on a busy one the
wall-clock time is longer, which is why both are printed.
"""
import argparse
import ast
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def block(heading: str, language: str) -> str:
    """The first ```language block after `heading` in the README."""
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def stamp() -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def python_part() -> None:
    code = block("## Quick start in Python", "python")
    lines = code.splitlines()
    namespace = {}
    total_wall = total_cpu = 0.0
    print(f"quick start, started {stamp()}")
    for node in ast.parse(code).body:
        began, cpu = time.perf_counter(), time.process_time()
        exec(compile(ast.Module([node], []), "README quick start", "exec"), namespace)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"COST line {node.lineno:2d}: wall {wall:6.1f} s, cpu {cpu:6.1f} s | {lines[node.lineno - 1].strip()[:70]}",
              flush=True)
    from sparsekit.core import threads
    chosen = threads.last()
    print(f"quick start total: wall {total_wall:.1f} s, cpu {total_cpu:.1f} s; threads: "
          f"{chosen.count if chosen else '?'} ({chosen.reason if chosen else 'not recorded'}); ended {stamp()}")


def cli_part() -> None:
    venv = ROOT / ".venv" / "bin"
    if not (venv / "sparsekit").exists():
        sys.exit(f"error: {venv}/sparsekit not found: run `make setup` first")
    # each line as the shell reads it: words, with a trailing comment dropped
    commands = [shlex.split(line, comments=True) for line in block("## The command line", "bash").splitlines()]
    commands = [words for words in commands if words]
    env = dict(os.environ, PATH=f"{venv}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(venv.parent))
    print(f"command line, started {stamp()}")
    with tempfile.TemporaryDirectory() as scratch:
        for command in commands:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - began
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(f"COST exit {done.returncode}: wall {wall:6.1f} s, cpu {cpu:6.1f} s | {shlex.join(command)}", flush=True)
            if done.returncode != 0:
                print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "(no stderr)")
    print(f"command line ended {stamp()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("python", "cli", "both"), default="both")
    part = parser.parse_args().part
    if part in ("python", "both"):
        with tempfile.TemporaryDirectory() as scratch:
            os.chdir(scratch)
            python_part()
    if part in ("cli", "both"):
        cli_part()


if __name__ == "__main__":
    main()
