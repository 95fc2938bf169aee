"""sshconv's WIDER FACE Easy/Medium/Hard against the official MATLAB evaluation itself, run by GNU Octave.

    python scripts/wider_against_official.py --eval-tools ~/WIDER/eval_tools [--sets 5] [--photos 60]

Generates labelled sets with detections (ignored and overlapping faces, duplicates, misses, tied
scores, face-free photos; tests/evaluation/wider_reference.py), writes each as the .mat files
and the submission folder sshconv writes, and prints the three APs from sshconv, from the test
suite's independent implementation and, given ``--eval-tools`` (the folder WIDER FACE ships,
holding read_pred.m, norm_score.m, evaluation.m, boxoverlap.m and plot/VOCap.m) and an
``octave`` on PATH, from the official code run as it is, on a copy of that folder. Last line:
the largest difference. Nothing of the official code is part of sshconv.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sshconv.dataset.wider_mat import photo_key, read_truth, write_mats  # noqa: E402
from sshconv.evaluation.submission import parse_lines, submission_lines, write_submissions  # noqa: E402
from sshconv.evaluation.wider_ap import wider_aps  # noqa: E402
from tests.evaluation import wider_reference  # noqa: E402

SETTINGS = ("easy", "medium", "hard")
#: Octave cannot write MATLAB's -v7.3 files, which evaluation.m asks for when it saves a curve: this shim, first on
#: the path, saves the same variables in Octave's default format (the driver reads them back with load).
SAVE_SHIM = """function save(varargin)
  args = varargin(~strcmp(varargin, '-v7.3'));
  quoted = cellfun(@(a) [char(39) a char(39)], args, 'UniformOutput', false);
  evalin('caller', ['builtin(' char(39) 'save' char(39) ', ' strjoin(quoted, ', ') ');']);
end
"""
DRIVER = """
addpath(genpath('{tools}'));
addpath('{shim}');
cd('{work}');
pred_list = read_pred('{pred}', '{mats}/wider_face_val.mat');
norm_pred_list = norm_score(pred_list);
names = {{'easy', 'medium', 'hard'}};
for i = 1:3
  evaluation(norm_pred_list, sprintf('{mats}/wider_%s_val.mat', names{{i}}), names{{i}}, 'setting_int', 'sshconv');
  load(sprintf('./plot/baselines/Val/setting_int/sshconv/wider_pr_info_sshconv_%s.mat', names{{i}}));
  printf('AP %s %.12f\\n', names{{i}}, VOCap(pr_cruve(:,2), pr_cruve(:,1)));
end
"""


def official(tools: Path, mats: Path, pred: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        copy = Path(work) / "eval_tools"
        shutil.copytree(tools, copy)
        shim = Path(work) / "shim"
        shim.mkdir()
        (shim / "save.m").write_text(SAVE_SHIM)
        script = DRIVER.format(tools=copy, shim=shim, work=copy, pred=pred, mats=mats)
        run = subprocess.run(["octave", "--no-gui", "--quiet", "--eval", script], capture_output=True, text=True,
                             timeout=1800)  # fmt: skip
    aps = {ln.split()[1]: float(ln.split()[2]) for ln in run.stdout.splitlines() if ln.startswith("AP ")}
    if len(aps) != 3:
        raise SystemExit(f"octave did not print the three APs:\n{run.stdout[-1500:]}\n{run.stderr[-1500:]}")
    return aps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval-tools", type=Path, help="WIDER FACE's eval_tools folder (the official MATLAB code)")
    ap.add_argument("--sets", type=int, default=5)
    ap.add_argument("--photos", type=int, default=60)
    args = ap.parse_args()
    if args.eval_tools is not None and shutil.which("octave") is None:
        raise SystemExit("octave is not on PATH (Debian: apt-get install octave)")
    worst = 0.0
    print(f"{'set':>4} {'setting':>7} {'sshconv':>14} {'independent':>14} {'official':>14}")
    for seed in range(args.sets):
        photos, dets = wider_reference.generated_set(seed, args.photos)
        with tempfile.TemporaryDirectory() as tmp:
            mats = Path(tmp) / "gt"
            write_mats(mats, photos)
            lines = {p.path: submission_lines(dets[p.path][(-dets[p.path][:, 4]).argsort(kind="stable")]) for p in photos}
            folder = write_submissions(Path(tmp) / "sub", ["e"], ((p.path, {"e": lines[p.path]}) for p in photos))["e"]
            ours = wider_aps(read_truth(mats), {photo_key(k): parse_lines(v) for k, v in lines.items()})
            theirs = wider_reference.evaluate(mats, folder)
            off = official(args.eval_tools, mats, folder) if args.eval_tools else {}
        for s in SETTINGS:
            a, b, c = ours[s].ap, theirs[s], off.get(s)
            worst = max(worst, abs(a - b), abs(a - c) if c is not None else 0.0)
            print(f"{seed:>4} {s:>7} {a:14.10f} {b:14.10f} " + (f"{c:14.10f}" if c is not None else f"{'-':>14}"))
    print(f"largest |difference|: {worst:.3g}")


if __name__ == "__main__":
    main()
