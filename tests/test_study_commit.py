"""`benchmarks/study_commit.py`: a long study's finished runs are committed as they come; a run
still training, its checkpoints and whatever else is staged in the checkout are left alone."""
import json
import subprocess

from helpers import benchmark_script

study_commit = benchmark_script("study_commit")


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def run_folder(study, name, finished):
    folder = study / "runs" / name
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps({"finished": finished}))
    for file in ("epochs.csv", "mask.pt", "checkpoint.pt", "model.pt"):
        (folder / file).write_text(file)
    return folder


def test_only_finished_runs_and_the_study_files_are_committed(tmp_path, capsys):
    repo = tmp_path / "repo"
    study = repo / "benchmarks" / "results" / "study"
    study.mkdir(parents=True)
    git("init", "-q", cwd=repo)
    git("config", "user.email", "t@example.org", cwd=repo)
    git("config", "user.name", "t", cwd=repo)
    (study / "plan.json").write_text("{}")
    run_folder(study, "random-0.98-seed0-default", finished=True)
    training = run_folder(study, "random-0.98-seed1-default", finished=False)
    (repo / "elsewhere.txt").write_text("staged, not part of the study")
    git("add", "elsewhere.txt", cwd=repo)

    assert study_commit.main([str(study)]) == 0
    committed = set(git("ls-tree", "-r", "--name-only", "HEAD", cwd=repo).split())
    base = "benchmarks/results/study/"
    assert committed == {base + "plan.json"} | {base + "runs/random-0.98-seed0-default/" + f
                                                  for f in ("record.json", "epochs.csv", "mask.pt")}
    assert git("diff", "--cached", "--name-only", cwd=repo).split() == ["elsewhere.txt"]  # still staged only
    assert "committed 4 file(s)" in capsys.readouterr().out

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
