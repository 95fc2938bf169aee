"""``sshconv eval`` end to end on the full-size models: against ``accuracy_check`` itself, resumed after
``kill -9``, in worker processes and on a real Ray cluster on 127.0.0.1, and what it refuses.

On the conversion stack MXNet is evaluated beside the IR (mAP parity, accuracy_check); on the runtime stack the IRs
the conversion stack made are evaluated alone. The ways of running one evaluation (resumed, in worker processes, on
Ray, upstream's protocol and its pyramid) run once, on the runtime stack (``neutral``): they are one code path whatever
the engine (MXNet in worker processes: README's Python example, tests/test_readme.py; MXNet at frame sizes other than
640x640: the ``verify_shapes`` fixture, tests/verification/test_shapes.py). A real Ray cluster, the same numbers through
lost workers, nodes and head: tests/evaluation/test_cluster.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sshconv.dataset.photos import make_photos
from sshconv.evaluation import omz
from sshconv.model.parse import load_model_spec
from tests.conftest import assert_one_line_error, break_ir_weights, conversion_stack, run_cli

from .conftest import eval_process, free_port, numbers

pytestmark = pytest.mark.slow
#: Photos of the tests that compare ways of running one evaluation (in this process, resumed, in workers, on Ray):
#: their proof is the same numbers, which four photos give as well as eight.
PHOTOS = 4


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval-photos")
    make_photos(folder, count=PHOTOS, seed=31)
    return folder


@pytest.fixture(scope="module")
def engines(request, converted_dir) -> list[str]:
    """The eval flags for the engines: MXNet (where it runs) and the Model Optimizer FP32 IR."""
    ir = ["--ir", str(converted_dir / "ir/mo/FP32/ssh-mxnet.xml")]
    if conversion_stack():
        return ["--input-dir", str(request.getfixturevalue("synth_dir")), *ir]
    return ir


@pytest.fixture(scope="module")
def reference(photos, engines, tmp_path_factory) -> dict:
    """One uninterrupted run in this process: what every other way must reproduce."""
    out = tmp_path_factory.mktemp("eval-reference")
    res = run_cli(
        "eval", "--dataset", photos, *engines, "--work-dir", out / "w", "--json-file", out / "r.json", "--html", out / "r.html"
    )
    assert res.code == 0, res.err
    return {"report": json.loads((out / "r.json").read_text()), "html": (out / "r.html").read_text(), "out": res.out}



def test_eval_reports_map_parity_and_a_page(reference):
    report = reference["report"]
    results = report["results"]
    assert "ir" in results and results["ir"]["photos"] == PHOTOS
    assert 20.0 < results["ir"]["map"] <= 100.0  # the synthetic detector finds most faces
    if conversion_stack():
        assert results["mxnet"]["map"] == pytest.approx(results["ir"]["map"], abs=0.5)
        assert results["ir"]["parity"]["matched"] > 5 and results["ir"]["parity"]["missed"] == 0
    assert report["timing"]["overhead_percent"] < 25  # the figure itself is measured by scripts/measure_eval.py
    assert report["metric"]["keep_top_k"] == 1000 and report["metric"]["height_range"] == [64, 1024]
    html = reference["html"]
    assert html.count("<polyline") == len(results) and "precision" in html and "mAP" in html
    curves = re.findall(r'<polyline[^>]* points="([^"]*)"', html)
    assert all(len(c.split()) >= 3 for c in curves), "every engine's precision-recall curve is drawn, not an empty frame"
    assert "mAP %" in reference["out"]


@pytest.mark.skipif(shutil.which("accuracy_check", path=str(Path(sys.executable).parent)) is None,
                    reason="accuracy_check comes with openvino-dev (conversion stack)")  # fmt: skip
def test_map_equals_accuracy_check_on_the_same_ir_and_photos(photos, converted_dir, reference, tmp_path):
    """OMZ's accuracy checker, run as a user runs it, on the same IR and photos: within 0.1 point."""
    bin_dir = Path(sys.executable).parent
    heads = omz.spec_heads(load_model_spec(None))
    boxes, scores = [b for _, _, b in heads], [c for _, c, _ in heads]
    config = omz.write_accuracy_check_config(tmp_path / "ac.yml", "ssh-mxnet", boxes, scores)
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    subprocess.run([bin_dir / "convert_annotation", "wider", "--annotation_file", photos / "wider_face_val_bbx_gt.txt",
                    "-o", annotations, "-a", "wider.pickle", "-m", "wider.json"], check=True, capture_output=True)  # fmt: skip
    model = tmp_path / "model"
    model.mkdir()
    for suffix in (".xml", ".bin"):
        shutil.copyfile(converted_dir / f"ir/mo/FP32/ssh-mxnet{suffix}", model / f"ssh-mxnet{suffix}")
    run = subprocess.run([bin_dir / "accuracy_check", "-c", config, "-m", model, "-s", photos, "-a", annotations],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("map:")][-1]
    theirs = float(line.split(":")[1].strip().rstrip("%"))
    assert reference["report"]["results"]["ir"]["map"] == pytest.approx(theirs, abs=0.1)


@pytest.mark.neutral
def test_a_wrong_conversion_scores_lower(photos, converted_dir, reference, tmp_path):
    """A sign error in a class head (a wrong conversion that still runs): the mAP drops, and each of several IRs gets
    its own label. (A trunk layer scaled by 1.6 lowers it on eight photos, but on these four it can raise it.)"""
    good = converted_dir / "ir/mo/FP32/ssh-mxnet.xml"
    broken = break_ir_weights(good, tmp_path / "broken", "rpn_cls_score_stride16_weight", -1.0)
    res = run_cli(
        "eval", "--dataset", photos, "--ir", good, broken, "--work-dir", tmp_path / "w", "--json-file", tmp_path / "r.json"
    )
    assert res.code == 0, res.err
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert results[f"ir:{good}"]["map"] == reference["report"]["results"]["ir"]["map"]
    assert results[f"ir:{broken}"]["map"] < results[f"ir:{good}"]["map"] - 3.0



@pytest.mark.neutral
def test_resume_after_kill_9_gives_the_same_numbers(photos, engines, reference, tmp_path):
    work = tmp_path / "w"
    proc = eval_process("--dataset", photos, *engines, "--work-dir", work)
    for line in proc.stderr:  # wait until two photos are in the ledger, then kill without warning
        event = json.loads(line)
        if event.get("event") == "progress" and event.get("done", 0) >= 2:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The same run started again continues where it stopped (no flag needed), and gives the same numbers.
    res = run_cli("eval", "--dataset", photos, *engines, "--work-dir", work, "--json-file", tmp_path / "r.json")
    assert res.code == 0, res.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert 2 <= report["resumed_photos"] < PHOTOS
    assert numbers(report) == numbers(reference["report"])
    again = run_cli("eval", "--dataset", photos, *engines, "--work-dir", work, "--resume", "--json")
    assert again.code == 0 and json.loads(again.out)["resumed_photos"] == PHOTOS, again.err


@pytest.mark.neutral
def test_a_different_run_in_the_same_work_folder_simply_runs(photos, converted_dir, reference, tmp_path):
    """Other models in a work folder that holds a run: a run of their own beside it, nothing mixed, nothing refused."""
    work = tmp_path / "w"
    fp32, fp16 = (converted_dir / f"ir/mo/{w}/ssh-mxnet.xml" for w in ("FP32", "FP16"))
    first = run_cli("eval", "--dataset", photos, "--ir", fp32, "--work-dir", work, "--json")
    second = run_cli("eval", "--dataset", photos, "--ir", fp16, "--work-dir", work, "--json")
    assert first.code == 0 and second.code == 0, first.err + second.err
    one, two = json.loads(first.out), json.loads(second.out)
    assert one["resumed_photos"] == two["resumed_photos"] == 0
    assert Path(one["ledger"]).parent != Path(two["ledger"]).parent and Path(one["ledger"]).parent.parent == work
    assert one["results"]["ir"]["map"] == reference["report"]["results"]["ir"]["map"]
    page = tmp_path / "two.html"
    assert run_cli("eval", "--dataset", photos, "--ir", fp16, "--work-dir", work, "--html", page).code == 0
    assert "No MXNet checkpoint was evaluated" in page.read_text() and "Δ vs MXNet" not in page.read_text()
    # The old spellings still work, each with a one-line note on stderr: --json FILE and --ir A B.
    old = run_cli("eval", "--dataset", photos, "--ir", fp32, fp16, "--work-dir", work, "--json", tmp_path / "old.json")
    assert old.code == 0, old.err
    assert "--json-file" in old.err and "--ir " in old.err and "deprecated" in old.err
    assert set(json.loads((tmp_path / "old.json").read_text())["results"]) == {f"ir:{fp32}", f"ir:{fp16}"}


@pytest.mark.neutral
def test_worker_processes_give_the_same_numbers(photos, engines, reference, tmp_path):
    res = run_cli(
        "eval", "--dataset", photos, *engines, "--work-dir", tmp_path / "w", "--jobs", "2", "--json-file", tmp_path / "r.json"
    )
    assert res.code == 0, res.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["workers"]["kind"] == "processes" and report["workers"]["count"] == 2
    assert numbers(report) == numbers(reference["report"])


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.neutral
def test_a_worker_process_that_dies_is_its_own_exit_code_and_loses_nothing(photos, converted_dir, reference, tmp_path):
    """A worker killed as the kernel's OOM killer kills (SIGKILL): exit 5 in one line, the finished photos kept, and the
    same command run again goes on from them to the uninterrupted run's numbers."""
    ir = ["--ir", str(converted_dir / "ir/mo/FP32/ssh-mxnet.xml")]
    work = tmp_path / "w"
    proc = eval_process("--dataset", photos, *ir, "--work-dir", work, "--jobs", "2")
    for line in proc.stderr:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "progress" and event.get("done", 0) >= 1:
            break
    workers = [p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 5, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(lines) == 1 and "worker process died" in lines[0] and "run the same command again" in lines[0], err
    res = run_cli("eval", "--dataset", photos, *ir, "--work-dir", work, "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["resumed_photos"] >= 1
    keys = ("map", "faces", "detections", "true_positives", "photos")
    assert {k: report["results"]["ir"][k] for k in keys} == {k: reference["report"]["results"]["ir"][k] for k in keys}


@pytest.mark.neutral
def test_the_spawn_pitfall_is_named_in_one_line_at_once(photos, converted_dir, tmp_path):
    """A script that calls evaluate(jobs=2) at its top level, with no __main__ guard: the workers import it again. Each
    stops at once, and the script's error names the guard (it used to run for 20 minutes, then blame memory)."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from sshconv import evaluate, load_model_spec\n"
        f"evaluate(load_model_spec(), {str(photos)!r}, irs=[{str(converted_dir / 'ir/mo/FP32/ssh-mxnet.xml')!r}], "
        f"work_dir={str(tmp_path / 'w')!r}, jobs=2)\n"
    )
    started = time.time()
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("sshconv.errors.WorkerDied") and 'if __name__ == "__main__":' in last, res.stderr[-3000:]
    assert time.time() - started < 180



@pytest.mark.neutral
def test_a_ray_address_where_something_else_answers_is_exit_3_at_once(photos, converted_dir, tmp_path):
    """A web server where the cluster should be: ray.init would retry for minutes; this says so within seconds."""
    import http.server
    import threading

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # the server thread would write into the command's captured stderr
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.time()
        res = run_cli("eval", "--dataset", photos, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--work-dir",
                      tmp_path / "w", "--ray", f"127.0.0.1:{server.server_port}")  # fmt: skip
        assert_one_line_error(res, 3, "something answers there, but not a Ray cluster")
        assert time.time() - started < 60
    finally:
        server.shutdown()


@pytest.mark.neutral
def test_a_ray_address_where_nothing_answers_is_exit_3_at_once(photos, converted_dir, tmp_path):
    started = time.time()
    res = run_cli("eval", "--dataset", photos, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--work-dir", tmp_path / "w",
                  "--ray", f"127.0.0.1:{free_port()}")  # fmt: skip
    assert_one_line_error(res, 3, "Ray cluster", "nothing answers", "ray start --head")
    assert time.time() - started < 60
    # The run stopped before its first photo: its empty ledger does not stand in the way of the next one.
    res = run_cli("eval", "--dataset", photos, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--work-dir", tmp_path / "w")
    assert res.code == 0, res.err


@pytest.mark.neutral
def test_a_changed_model_photo_or_ground_truth_is_refused_not_mixed(photos, converted_dir, tmp_path):
    data = tmp_path / "photos"
    shutil.copytree(photos, data)
    model = tmp_path / "model"
    model.mkdir()
    for suffix in (".xml", ".bin"):
        shutil.copyfile(converted_dir / f"ir/mo/FP32/ssh-mxnet{suffix}", model / f"ssh-mxnet{suffix}")
    gt = data / "wider_face_val_bbx_gt.txt"
    lines = gt.read_text().splitlines()
    count = int(lines[1])
    gt.write_text("\n".join(lines[: 2 + max(count, 1)]) + "\n")  # one photo: quick
    args = ["eval", "--dataset", data, "--ir", model / "ssh-mxnet.xml", "--work-dir", tmp_path / "w"]
    assert run_cli(*args).code == 0
    blob = bytearray((model / "ssh-mxnet.bin").read_bytes())
    blob[-1] ^= 1
    (model / "ssh-mxnet.bin").write_bytes(bytes(blob))
    assert_one_line_error(run_cli(*args, "--resume"), 4, "the models changed", "--resume")
    shutil.copyfile(converted_dir / "ir/mo/FP32/ssh-mxnet.bin", model / "ssh-mxnet.bin")
    photo = data / "images" / lines[0]
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert_one_line_error(run_cli(*args, "--resume"), 4, lines[0], "changed")
    gt.write_text(gt.read_text() + "\n")
    assert_one_line_error(run_cli(*args, "--resume"), 4, "the dataset changed")


@pytest.mark.neutral
def test_bad_usage_is_one_line(photos, converted_dir, tmp_path):
    assert_one_line_error(run_cli("eval", "--dataset", tmp_path / "none", "--ir", tmp_path / "x.xml"), 2, "dataset")
    assert_one_line_error(run_cli("eval", "--dataset", photos), 2, "--input-dir", "--artifacts", "--ir")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("eval", "--dataset", empty, "--ir", tmp_path / "x.xml"), 2, "WIDER FACE layout")
    assert_one_line_error(run_cli("eval", "--dataset", photos, "--ir", tmp_path / "x.xml", "--jobs", "0"), 2, "--jobs")
    res = run_cli("eval", "--dataset", photos, "--ir", tmp_path / "x.xml", "--ray", "127.0.0.1:9", "--worker-wait", "0")
    assert_one_line_error(res, 2, "--worker-wait")
    # A ground truth naming a file outside images/ is refused before anything is read.
    escape = tmp_path / "escape"
    shutil.copytree(photos, escape)
    gt = escape / "wider_face_val_bbx_gt.txt"
    gt.write_text("../../wider_face_val_bbx_gt.txt\n0\n0 0 0 0 0 0 0 0 0 0\n")
    ir = converted_dir / "ir/mo/FP32/ssh-mxnet.xml"
    res = run_cli("eval", "--dataset", escape, "--ir", ir, "--work-dir", tmp_path / "w")
    assert_one_line_error(res, 2, "not a file inside", "ground truth")
    assert not (tmp_path / "w").exists(), "a ground truth that cannot be used leaves no ledger behind"
    # A photo too large to be one is refused before it is read (a sparse file: no disk used).
    gt.write_text("big/huge.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n")
    (escape / "images" / "big").mkdir()
    with open(escape / "images" / "big" / "huge.jpg", "wb") as f:
        f.truncate(300 * 1024 * 1024)
    res = run_cli("eval", "--dataset", escape, "--ir", ir, "--work-dir", tmp_path / "w2")
    assert_one_line_error(res, 2, "huge.jpg", "larger than")


@pytest.mark.neutral
def test_following_the_advice_of_an_error_loses_no_result(converted_dir, tmp_path):
    """A photo that cannot be read stops the run with advice; done to the letter, the same command goes on from the
    photos already in the ledger instead of starting over."""
    data = tmp_path / "photos"
    make_photos(data, count=4, seed=12)
    from sshconv.dataset.wider import read_gt

    third = data / "images" / list(read_gt(data / "wider_face_val_bbx_gt.txt"))[2].path
    kept = third.read_bytes()
    third.unlink()
    third.mkdir()
    args = ["eval", "--dataset", data, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--work-dir", tmp_path / "w"]
    assert_one_line_error(run_cli(*args), 2, "is a folder, not a regular file", "run the same command again")
    third.rmdir()
    third.write_bytes(kept)
    res = run_cli(*args, "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["resumed_photos"] == 2 and report["timing"]["photos"] == 4


# -- upstream's protocol and WIDER FACE's official evaluation ----------------------------------------

#: Photos of the upstream-protocol tests: each runs at ~1200x1600, about 4.7 times the work of a 640x640 photo.
UPSTREAM_PHOTOS = 3


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    """Photos in WIDER FACE's release layout (WIDER_val/, wider_face_split/, eval_tools/ground_truth/)."""
    folder = tmp_path_factory.mktemp("eval-official")
    make_photos(folder, count=UPSTREAM_PHOTOS, seed=37, layout="official")
    return folder


@pytest.fixture(scope="module")
def upstream_run(official, converted_dir, tmp_path_factory) -> dict:
    """Upstream's protocol on the FP32 IR and a wrong conversion of it, killed with ``kill -9`` after its first photo
    and then run again to the end (the run the tests below read)."""
    out = tmp_path_factory.mktemp("eval-upstream")
    good = converted_dir / "ir/mo/FP32/ssh-mxnet.xml"
    # A sign error in a class head: the stride-16 anchors, where most faces land at upstream's scale, score faces as
    # background. (A trunk layer scaled by 1.6 can raise the numbers of a few photos: test_a_wrong_conversion_scores_lower.)
    broken = break_ir_weights(good, out / "broken", "rpn_cls_score_stride16_weight", -1.0)
    args = ["--dataset", official, "--ir", good, "--ir", broken, "--protocol", "upstream", "--metric", "both",
            "--work-dir", out / "w"]  # fmt: skip
    proc = eval_process(*args)
    for line in proc.stderr:  # one photo in the ledger, then killed without warning
        event = json.loads(line)
        if event.get("event") == "progress" and event.get("done", 0) >= 1:
            break
    else:
        pytest.fail(f"eval ended before its first photo (exit {proc.wait()})")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    res = run_cli("eval", *args, "--submission-dir", out / "sub", "--json-file", out / "r.json", "--html", out / "r.html")
    assert res.code == 0, res.err
    return {"report": json.loads((out / "r.json").read_text()), "out": out, "good": f"ir:{good}", "broken": f"ir:{broken}",
            "text": res.out, "html": (out / "r.html").read_text()}  # fmt: skip


@pytest.mark.neutral
def test_upstream_protocol_gives_both_numbers_and_submissions_the_official_rules_read(official, upstream_run):
    from sshconv.evaluation.submission import INDEX_NAME

    from .wider_reference import evaluate as reference_evaluate

    report = upstream_run["report"]
    assert report["metric"]["protocol"] == "upstream" and report["metric"]["short_side"] == 1200
    index = json.loads((upstream_run["out"] / "sub" / INDEX_NAME).read_text())
    assert set(index) == set(report["results"])
    for label, r in report["results"].items():
        assert set(r["wider"]) == {"easy", "medium", "hard"} and "map" in r
        folder = upstream_run["out"] / "sub" / index[label]
        assert len(list(folder.glob("*/*.txt"))) == UPSTREAM_PHOTOS
        theirs = reference_evaluate(official / "eval_tools/ground_truth", folder)  # the files, read by the official rules
        for s in ("easy", "medium", "hard"):
            assert r["wider"][s] == pytest.approx(theirs[s], abs=1e-4), (label, s)
    good, broken = report["results"][upstream_run["good"]], report["results"][upstream_run["broken"]]
    assert broken["wider"]["hard"] < good["wider"]["hard"] - 0.03, "a wrong conversion scores lower"
    assert "Easy" in upstream_run["text"] and "Hard" in upstream_run["text"]
    html = upstream_run["html"]
    assert "WIDER FACE, official evaluation" in html and html.count('stroke="#c62828"') == len(report["results"])


@pytest.mark.neutral
def test_upstream_protocol_resumes_after_kill_9_with_the_same_numbers(official, converted_dir, upstream_run, tmp_path):
    """The killed and resumed run's numbers for the FP32 IR are those of a run of it alone that nobody interrupted
    (an engine's numbers depend on its own detections only)."""
    whole = run_cli("eval", "--dataset", official, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--protocol",
                    "upstream", "--metric", "both", "--work-dir", tmp_path / "w", "--json")  # fmt: skip
    assert whole.code == 0, whole.err
    one, two = json.loads(whole.out)["results"]["ir"], upstream_run["report"]["results"][upstream_run["good"]]
    assert 1 <= upstream_run["report"]["resumed_photos"] < UPSTREAM_PHOTOS
    assert (one["wider"], one["map"], one["detections"]) == (two["wider"], two["map"], two["detections"])


@pytest.mark.neutral
def test_the_pyramid_runs_and_costs_more_than_one_scale(official, converted_dir, upstream_run, tmp_path):
    data = tmp_path / "one"
    make_photos(data, count=1, seed=37, layout="official")  # the first photo of `official`
    res = run_cli("eval", "--dataset", data, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--protocol",
                  "upstream-pyramid", "--metric", "wider", "--work-dir", tmp_path / "w", "--json")  # fmt: skip
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["metric"]["pyramid"] == [500, 800, 1200, 1600] and set(report["results"]["ir"]["wider"]) == {
        "easy", "medium", "hard"}  # fmt: skip
    single = upstream_run["report"]["results"][upstream_run["good"]]["seconds_per_photo"]
    assert report["results"]["ir"]["seconds_per_photo"] > single
