"""`study/commit.py` and `study/park.py`: a long study's finished runs are committed as they
come; a run still training, its checkpoints and whatever else is staged in the checkout are left
alone, and parked at a session's end to resume in the next."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

from study import commit as study_commit
from study import park as study_park

ROOT = Path(__file__).resolve().parents[1]


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def run_folder(study, name, finished):
    folder = study / "runs" / name
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps({"finished": finished}))
    for file in ("epochs.csv", "mask.pt", "checkpoint.pt", "model.pt"):
        (folder / file).write_text(file)
    return folder


def new_repo(tmp_path):
    """An empty git repository holding an empty study folder."""
    repo = tmp_path / "repo"
    study = repo / "benchmarks" / "results" / "study"
    study.mkdir(parents=True)
    git("init", "-q", cwd=repo)
    git("config", "user.email", "t@example.org", cwd=repo)
    git("config", "user.name", "t", cwd=repo)
    return repo, study


def test_only_finished_runs_and_the_study_files_are_committed(tmp_path, capsys):
    repo, study = new_repo(tmp_path)
    (study / "plan.json").write_text("{}")
    for generated in ("report.md", "answer.json"):  # a report regenerated beside the runs: both, never one
        (study / generated).write_text(generated)
    run_folder(study, "random-0.98-seed0-default", finished=True)
    training = run_folder(study, "random-0.98-seed1-default", finished=False)
    (repo / "elsewhere.txt").write_text("staged, not part of the study")
    git("add", "elsewhere.txt", cwd=repo)

    assert study_commit.main([str(study)]) == 0
    committed = set(git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split())
    base = "benchmarks/results/study/"
    assert committed == {base + name for name in ("plan.json", "report.md", "answer.json")} | {
        base + "runs/random-0.98-seed0-default/" + f for f in ("record.json", "epochs.csv", "mask.pt")}
    assert git("diff", "--cached", "--name-only", cwd=repo).split() == ["elsewhere.txt"]  # still staged only
    assert "committed 6 file(s)" in capsys.readouterr().out

    assert study_commit.commit_finished(study) == 0  # nothing new: no empty commit
    (training / "record.json").write_text(json.dumps({"finished": True}))
    assert study_commit.commit_finished(study) == 3
    assert len(git("log", "--oneline", cwd=repo).splitlines()) == 2


def test_a_folder_outside_git_or_missing_is_one_error_line(tmp_path, capsys):
    assert study_commit.main([str(tmp_path / "missing")]) == 2
    assert study_commit.main([str(tmp_path)]) == 2
    assert study_commit.main([str(tmp_path), "--every", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)


def study_repo(tmp_path):
    """A repository whose study has its plan committed and ignores checkpoints, as the project does."""
    repo, study = new_repo(tmp_path)
    (repo / ".gitignore").write_text("checkpoint.pt\n")
    (study / "plan.json").write_text("{}")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "plan", cwd=repo)
    return repo, study


def test_a_run_still_training_at_a_sessions_end_is_parked_and_restored_to_resume(tmp_path, capsys):
    repo, study = study_repo(tmp_path)
    run_folder(study, "random-0.98-seed0-default", finished=True)
    training = run_folder(study, "random-0.98-seed1-default", finished=False)
    (training / "checkpoint.pt").write_bytes(b"epoch 7 of 40")
    (training / ".sparsekit.lock").write_text(f"{os.getpid()}\n")  # a live process holds it

    assert study_commit.main([str(study), "--park"]) == 1
    assert "still training" in capsys.readouterr().err
    assert not (study / "parked.tar").exists()

    (training / ".sparsekit.lock").unlink()  # the runner stopped
    assert study_commit.main([str(study), "--park"]) == 0
    assert "parked 1 unfinished run(s)" in capsys.readouterr().out
    committed = set(git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split())
    assert "benchmarks/results/study/parked.tar" in committed
    assert not any("/runs/" in path for path in committed)  # no half-trained record in the study
    assert study_commit.main([str(study), "--park"]) == 1  # parked twice would lose the first
    capsys.readouterr()

    # The next session's checkout: what was committed, and the untracked record without its checkpoint.
    shutil.rmtree(study / "runs")
    (training).mkdir(parents=True)
    (training / "record.json").write_text(json.dumps({"finished": False, "stale": True}))
    assert study_commit.main([str(study), "--unpark"]) == 0
    assert "restored 1 unfinished run(s)" in capsys.readouterr().out
    assert (training / "checkpoint.pt").read_bytes() == b"epoch 7 of 40"
    assert json.loads((training / "record.json").read_text()) == {"finished": False}
    assert not (study / "parked.tar").exists()
    committed = set(git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split())
    assert "benchmarks/results/study/parked.tar" not in committed
    assert study_park.unpark(study) == 0  # nothing parked: nothing to do


def test_a_run_that_kept_its_own_checkpoint_is_not_overwritten_by_the_parked_one(tmp_path):
    repo, study = study_repo(tmp_path)
    training = run_folder(study, "snip-0.98-seed0-default", finished=False)
    assert study_park.park(study) == 1
    (training / "checkpoint.pt").write_text("a later epoch")
    assert study_park.unpark(study) == 0
    assert (training / "checkpoint.pt").read_text() == "a later epoch"


def test_an_archive_with_a_file_outside_a_run_restores_nothing(tmp_path, capsys):
    repo, study = study_repo(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    with tarfile.open(study / "parked.tar", "w") as tar:
        tar.add(outside, arcname="runs/a/checkpoint.pt")
        tar.add(outside, arcname="../../escape.txt")
    assert study_commit.main([str(study), "--unpark"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nothing was restored" in err[0]
    assert not (study / "runs").exists()
    assert (study / "parked.tar").exists()


def test_a_run_parked_on_another_kind_of_machine_starts_again_rather_than_mixing_two_machines(tmp_path, capsys):
    repo, study = study_repo(tmp_path)
    here = {"torch": "2.14.1", "cpu_capability": "AVX2"}
    for name, capability in (("random-0.98-seed0-default", "AVX512"), ("random-0.98-seed1-default", "AVX2")):
        folder = run_folder(study, name, finished=False)
        (folder / "record.json").write_text(json.dumps(
            {"finished": False, "environment": {"torch": "2.14.1", "cpu_capability": capability}}))
    assert study_park.park(study) == 2
    shutil.rmtree(study / "runs")
    stale = study / "runs" / "random-0.98-seed0-default"
    stale.mkdir(parents=True)
    (stale / "record.json").write_text(json.dumps({"finished": False}))  # what a new checkout may hold

    assert study_park.unpark(study, machine=here) == 1
    out = capsys.readouterr().out
    assert "random-0.98-seed0-default: starts again from epoch 0 (cpu_capability AVX512 there, AVX2 here)" in out
    assert list(stale.iterdir()) == []  # nothing stale for the runner to trip on
    assert (study / "runs" / "random-0.98-seed1-default" / "checkpoint.pt").read_text() == "checkpoint.pt"
    assert not (study / "parked.tar").exists()


def test_a_file_the_checkout_ignores_does_not_stop_the_rest_of_a_run_from_being_committed(tmp_path):
    repo, study = new_repo(tmp_path)
    (repo / ".gitignore").write_text("benchmarks/results/*/runs/*/mask.pt\n!benchmarks/results/*/runs/*-default/mask.pt\n")
    run_folder(study, "random-0.98-seed0-default", finished=True)
    run_folder(study, "random-0.98-seed0-tost", finished=True)

    assert study_commit.commit_finished(study) == 5
    committed = set(git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split())
    base = "benchmarks/results/study/runs/"
    assert base + "random-0.98-seed0-tost/record.json" in committed
    assert base + "random-0.98-seed0-default/mask.pt" in committed
    assert base + "random-0.98-seed0-tost/mask.pt" not in committed


# A real lottery run (4 rounds of 3 epochs, then the ticket's own 2 epochs) killed with no
# clean-up at all as round 2's second epoch starts, after that round's first checkpoint.
LOTTERY_RUN = dict(dataset="digits", width=0.25, epochs=2, max_batches=2, batch_size=64, seed=0, mask="lottery",
                   sparsity=0.9, mask_options="prune_fraction=0.5, round_epochs=3")
KILLED_IN_ROUND_2 = textwrap.dedent("""
    import importlib, os, signal, sys
    import sparsekit as sk
    lottery = importlib.import_module("sparsekit.runs.lottery")

    class Kill(sk.Callback):
        def on_epoch_start(self, state):
            if state.epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    real_round = lottery._train_round

    def train_round(train, config, model, mask, bundle, capture, run_dir):
        def train_and_kill(settings, **options):
            options["callbacks"] = list(options.get("callbacks", [])) + [Kill()]
            return train(settings, **options)
        killing = run_dir is not None and run_dir.name == "round_2"
        return real_round(train_and_kill if killing else train, config, model, mask, bundle, capture, run_dir)

    lottery._train_round = train_round
    sk.train(out=sys.argv[1], progress=False, **{SETTINGS!r})
""").replace("{SETTINGS!r}", repr(LOTTERY_RUN))


def test_a_lottery_killed_in_its_rounds_is_parked_whole_and_resumes_where_it_stopped(tmp_path, capsys):
    import sparsekit as sk

    repo, study = study_repo(tmp_path)
    (repo / ".gitignore").write_text("checkpoint.pt\nbenchmarks/results/*/runs/*/lottery/\n")
    run = study / "runs" / "lottery-0.9-seed0-default"
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_ROUND_2, str(run)], timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert (run / "lottery" / "state.pt").is_file() and (run / "lottery" / "round_2" / "checkpoint.pt").is_file()
    assert not (run / "record.json").exists()  # the ticket's own training has not begun

    assert study_park.park(study) == 1
    with tarfile.open(study / "parked.tar") as tar:
        parked = sorted(tar.getnames())
    lottery = "runs/lottery-0.9-seed0-default/lottery/"
    assert lottery + "state.pt" in parked and lottery + "round_2/checkpoint.pt" in parked
    assert lottery + "round_1/record.json" in parked and lottery + "round_1/checkpoint.pt" not in parked
    archive = (study / "parked.tar").read_bytes()

    # A new checkout on a machine of another instruction set: the lottery starts over, nothing stale left.
    shutil.rmtree(study / "runs")
    (run / "lottery").mkdir(parents=True)
    (run / "lottery" / "round_1").mkdir()
    here = study_park.this_machine()
    assert study_park.unpark(study, machine=dict(here, cpu_capability="ANOTHER")) == 0
    assert "its lottery starts again from round 1" in capsys.readouterr().out
    assert not (run / "lottery").exists()

    # A new checkout on a machine like the parking one: the rounds continue from round 2's checkpoint.
    (study / "parked.tar").write_bytes(archive)
    assert study_park.unpark(study) == 1
    assert (run / "lottery" / "round_2" / "checkpoint.pt").is_file()
    sk.train(out=str(run), progress=False, **LOTTERY_RUN)
    rounds = [json.loads((run / "lottery" / f"round_{k}" / "record.json").read_text()) for k in (1, 2, 3, 4)]
    assert all(r["finished"] for r in rounds) and [len(r["epochs"]) for r in rounds] == [3, 3, 3, 3]
    sk.train(out=str(tmp_path / "uninterrupted"), progress=False, **LOTTERY_RUN)
    resumed, uninterrupted = (json.loads((folder / "record.json").read_text())
                              for folder in (run, tmp_path / "uninterrupted"))
    # bit for bit: both ran on this machine
    assert resumed["finished"] and resumed["mask_digest"] == uninterrupted["mask_digest"]
    assert [e["train_loss"] for e in resumed["epochs"]] == [e["train_loss"] for e in uninterrupted["epochs"]]


def test_a_lotterys_round_records_are_committed_and_its_weights_are_not(tmp_path):
    repo, study = new_repo(tmp_path)
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    lottery = study / "runs" / "lottery-0.98-seed0-default" / "lottery"
    (lottery / "round_1").mkdir(parents=True)
    (lottery / "state.pt").write_text("mask and rewind weights")
    (lottery / "round_1" / "record.json").write_text(json.dumps({"finished": True}))
    for name in ("epochs.csv", "mask.pt", "checkpoint.pt", "model.pt"):
        (lottery / "round_1" / name).write_text(name)

    assert study_commit.commit_finished(study) == 2
    committed = set(git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split())
    base = "benchmarks/results/study/runs/lottery-0.98-seed0-default/lottery/round_1/"
    assert committed == {base + "record.json", base + "epochs.csv"}


def test_a_run_parked_on_another_cpu_of_the_same_instruction_set_starts_again(tmp_path, capsys, monkeypatch):
    repo, study = study_repo(tmp_path)
    parking = {"torch": "2.14.1", "cpu_capability": "AVX512", "cpu": {"model": "Xeon", "flags_digest": "aaaaaaaaaaaa"}}
    folder = run_folder(study, "random-0.98-seed1-default", finished=False)
    # a record of a version that did not name its CPU: the archive's note of the parking machine does
    (folder / "record.json").write_text(json.dumps(
        {"finished": False, "environment": {"torch": "2.14.1", "cpu_capability": "AVX512"}}))
    monkeypatch.setattr(study_park, "this_machine", lambda: parking)
    assert study_park.park(study) == 1
    shutil.rmtree(study / "runs")

    other_cpu = dict(parking, cpu={"model": "Xeon", "flags_digest": "bbbbbbbbbbbb"})
    archive = (study / "parked.tar").read_bytes()
    assert study_park.unpark(study, machine=other_cpu) == 0
    assert "starts again from epoch 0 (cpu " in capsys.readouterr().out
    (study / "parked.tar").write_bytes(archive)
    assert study_park.unpark(study, machine=parking) == 1


def test_a_report_module_regenerates_the_report_whenever_runs_finish_and_goes_into_their_commit(tmp_path, capsys):
    repo, study = new_repo(tmp_path)
    (repo / "count_report.py").write_text(textwrap.dedent("""
        import sys
        from pathlib import Path
        study = Path(sys.argv[1])
        runs = len(list(study.glob("runs/*/record.json")))
        (study / "report.md").write_text(f"{runs} runs")
        (study / "answer.json").write_text(str(runs))
    """))
    run_folder(study, "a", finished=True)
    assert study_commit.main([str(study), "--report", "count_report"]) == 0
    assert git("show", "HEAD:benchmarks/results/study/report.md", cwd=repo) == "1 runs"
    (study / "report.md").write_text("edited by hand")  # no new run: the report is left as it is
    assert study_commit.commit_finished(study, "count_report") == 1
    assert git("show", "HEAD:benchmarks/results/study/report.md", cwd=repo) == "edited by hand"
    run_folder(study, "b", finished=True)
    assert study_commit.commit_finished(study, "count_report") == 5  # b's three files, both report files
    assert git("show", "HEAD:benchmarks/results/study/answer.json", cwd=repo) == "2"
    run_folder(study, "c", finished=True)
    assert study_commit.commit_finished(study, "no_such_module") == 3  # a report that fails: the records go in anyway
    assert "error: no_such_module failed: " in capsys.readouterr().err
    for flags in (["--report", "no_such_module"], ["--report", "count_report", "--readme", "no_such_readme"]):
        assert study_commit.main([str(study), *flags]) == 2  # a misspelt module: refused before the loop starts
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"error: {flags[-2]} {flags[-1]}: no such module from" in err[0]
    assert study_commit.main([str(study), "--park", "--report", "count_report"]) == 2


def test_a_readme_module_rewrites_the_readme_after_the_report_unless_the_readme_is_being_edited(tmp_path, capsys):
    repo, study = new_repo(tmp_path)
    (repo / "count_report.py").write_text(textwrap.dedent("""
        import sys
        from pathlib import Path
        study = Path(sys.argv[1])
        (study / "answer.json").write_text(str(len(list(study.glob("runs/*/record.json")))))
    """))
    (repo / "readme_block.py").write_text(textwrap.dedent("""
        from pathlib import Path
        answer = Path("benchmarks/results/study/answer.json").read_text()
        Path("README.md").write_text(f"intro\\nruns: {answer}\\n")
    """))
    (repo / "README.md").write_text("intro\n")
    git("add", "README.md", cwd=repo)
    git("commit", "-q", "-m", "readme", cwd=repo)
    run_folder(study, "a", finished=True)
    assert study_commit.main([str(study), "--report", "count_report", "--readme", "readme_block"]) == 0
    assert git("show", "HEAD:README.md", cwd=repo) == "intro\nruns: 1\n"
    assert not git("status", "--porcelain", cwd=repo).count("README")

    (repo / "README.md").write_text("intro, half rewritten by hand\n")  # someone is editing it
    run_folder(study, "b", finished=True)
    assert study_commit.commit_finished(study, "count_report", "readme_block") == 4  # b's three files, the answer
    assert "README.md has uncommitted changes of its own" in capsys.readouterr().err
    assert git("show", "HEAD:README.md", cwd=repo) == "intro\nruns: 1\n"
    assert (repo / "README.md").read_text() == "intro, half rewritten by hand\n"  # nothing lost
    assert git("show", "HEAD:benchmarks/results/study/answer.json", cwd=repo) == "2"


def test_readme_without_report_is_refused_in_one_line(tmp_path, capsys):
    repo, study = new_repo(tmp_path)
    assert study_commit.main([str(study), "--readme", "study.readme"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--readme needs --report" in err[0]
