"""`scaling-callback forecast` end to end: on a curve file of data/curves, on a TensorBoard log dir, errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scaling_callback.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACK2 = os.path.join(ROOT, "data", "curves", "modded_nanogpt_track2.csv")


def cli(*args):
    """Run the CLI in a fresh interpreter: (exit code, stdout, stderr, imported torch?)."""
    code = ("import sys; from scaling_callback.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else '', file=sys.stderr); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
    return p.returncode, p.stdout, p.stderr, "TORCH" in p.stderr


def test_forecast_json_on_a_real_curve_file():
    rc, out, err, torch_loaded = cli("forecast", TRACK2, "--run", "mng_t2_0010", "--upto", "2300", "--json")
    assert rc == 0, err
    got = json.loads(out)
    for key in ("loss", "low", "high", "asymptote", "law"):
        assert key in got
    assert got["ok"] and got["law"] == "multi-power" and got["at"] == 5690
    assert got["low"] <= got["loss"] <= got["high"]
    assert abs(got["loss"] / 2.920 - 1) < 0.03  # the run ended at 2.920
    assert not torch_loaded


def test_forecast_only_reads_losses_up_to_upto(tmp_path):
    rows = [line for line in open(TRACK2) if line.startswith("mng_t2_0010,") or line.startswith("run_id")]
    # a copy whose losses after step 2300 are nonsense must give the same forecast
    spoiled = []
    for line in rows[1:]:
        run, step, tokens, lr, loss = line.rstrip("\n").split(",")
        if loss and float(step) > 2300:
            loss = "99.0"
        spoiled.append(",".join([run, step, tokens, lr, loss]))
    path = tmp_path / "spoiled.csv"
    path.write_text(rows[0] + "\n".join(spoiled) + "\n")
    rc1, out1, _, _ = cli("forecast", TRACK2, "--run", "mng_t2_0010", "--upto", "2300", "--json")
    rc2, out2, _, _ = cli("forecast", str(path), "--upto", "2300", "--json")
    assert rc1 == rc2 == 0
    assert json.loads(out1)["loss"] == json.loads(out2)["loss"]


def test_forecast_on_a_tensorboard_log_dir(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for step in range(100, 5001, 100):
        writer.add_scalar("val_loss", 2.0 + 4.0 * (step / 100) ** -0.5, step)
        writer.add_scalar("lr", 1e-3 if step < 4000 else 1e-3 * (5000 - step) / 1000 + 1e-5, step)
    writer.close()
    rc, out, err, _ = cli("forecast", str(tmp_path), "--upto", "2000", "--at", "5000", "--json", "--lr-tag", "lr")
    assert rc == 0, err
    got = json.loads(out)
    assert got["ok"] and got["law"] == "multi-power" and got["n_points"] >= 2
    rc, out, err, _ = cli("forecast", str(tmp_path), "--upto", "2000", "--at", "5000", "--tag", "nope")
    assert rc == 2 and "val_loss" in err  # the message lists the tags that exist


def test_forecast_human_output_and_errors(tmp_path, capsys):
    path = tmp_path / "one.csv"
    steps = np.arange(100, 3001, 100)
    path.write_text("step,val_loss\n" + "".join(f"{s},{2 + 3 * (s / 100) ** -0.4:.6f}\n" for s in steps))
    assert main(["forecast", str(path), "--upto", "1500"]) == 0
    out = capsys.readouterr().out
    assert "15 points up to step 1500" in out and "forecast at step 3000" in out and "80% interval" in out and "no learning-rate schedule" in out
    assert main(["forecast", str(path), "--upto", "100", "--json"]) == 1  # one point: no forecast
    got = json.loads(capsys.readouterr().out)
    assert got["ok"] is False and got["loss"] is None and "too few points" in got["reason"]
    two = tmp_path / "two.csv"
    two.write_text("run_id,step,val_loss\na,1,3.0\nb,1,3.0\n")
    assert main(["forecast", str(two), "--upto", "1"]) == 2
    assert "--run" in capsys.readouterr().err
    assert main(["forecast", str(path)]) == 0  # --upto: every point
    assert "run -: 30 points\n" in capsys.readouterr().out  # every point counted


# ------------------------------------------- issue 29, items 5-6: the schedule file beside a log dir

GOOD_SCHEDULE = {"format": "scaling-callback schedule 1", "planned_end": 5000, "source": "LambdaLR",
                 "monitor": "val_loss", "steps": [0, 100, 4000, 5000], "lr": [0.0, 1e-3, 1e-3, 1e-5]}


def log_dir_with_schedule(path, text):
    """A TensorBoard run of 20 validations to step 2000 with `text` as its scaling_schedule.json."""
    from torch.utils.tensorboard import SummaryWriter

    if not path.exists():
        writer = SummaryWriter(str(path))
        for step in range(100, 2001, 100):
            writer.add_scalar("val_loss", 2.0 + 4.0 * (step / 100) ** -0.5, step)
        writer.close()
    (path / "scaling_schedule.json").write_text(text)
    return str(path)


def schedule_text(**changes):
    return json.dumps(dict(GOOD_SCHEDULE, **changes))


@pytest.mark.parametrize("text, says", [
    (schedule_text(planned_end=None), "planned_end must be a whole number of steps"),  # was TypeError
    (schedule_text().replace('"planned_end": 5000', '"planned_end": 1e400'), "got inf"),  # was OverflowError
    (schedule_text(steps={"0": 0, "1": 100, "2": 4000, "3": 5000}), "steps must be a list, got dict"),  # TypeError
    (schedule_text(steps=[0, 100, float("nan"), 5000]), "steps[2] must be a whole number"),  # was ValueError
    (schedule_text(lr=[0.0, 1e-3, None, 1e-5]), "lr[2] must be a finite learning rate"),
    (schedule_text(steps=[0, 100, 4000, 4000, 5000], lr=[0.0, 1e-3, 1e-3, 5e-4, 1e-5]),
     "two knots at step 4000 give different rates"),
], ids=["end-null", "end-1e400", "steps-dict", "step-nan", "lr-null", "one-step-two-rates"])
def test_forecast_on_a_log_dir_with_an_unreadable_schedule_file_says_why(tmp_path, capsys, text, says):
    run = log_dir_with_schedule(tmp_path / "run", text)
    code = main(["forecast", run])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "scaling_schedule.json" in err and says in err, err


def test_a_schedule_file_with_its_knots_reversed_gives_the_same_forecast_and_says_so(tmp_path, capsys):
    run = log_dir_with_schedule(tmp_path / "run", schedule_text())
    assert main(["forecast", run, "--json"]) == 0
    in_order = json.loads(capsys.readouterr().out)
    reversed_text = schedule_text(steps=GOOD_SCHEDULE["steps"][::-1], lr=GOOD_SCHEDULE["lr"][::-1])
    log_dir_with_schedule(tmp_path / "run", reversed_text)
    assert main(["forecast", run, "--json"]) == 0
    backwards = json.loads(capsys.readouterr().out)
    assert backwards["loss"] == in_order["loss"] and backwards["at"] == in_order["at"] == 5000
    assert any("not in step order" in note for note in backwards["notes"])
    assert not any("not in step order" in note for note in in_order["notes"])
    assert main(["forecast", run]) == 0
    assert "note: the knots of scaling_schedule.json were not in step order" in capsys.readouterr().out
