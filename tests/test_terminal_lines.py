"""In a real terminal, the callback's lines (a warning when advice starts, the gate's stop, the
summary at train end) start on a line of their own, never glued onto the progress bar's
unfinished line. The run is a real Lightning fit with the TQDM bar, in a subprocess whose stdout
and stderr are a pseudo-terminal, as in a shell."""
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # cursor moves tqdm writes between its bars
OURS = re.compile(r"step \d+: warning: |ForecastEarlyStopping: Stopped|scaling-callback: N = ")

RUN = """
import sys
sys.path.insert(0, {tests!r})
import lightning.pytorch as L
from lightning.pytorch.callbacks import TQDMProgressBar
from scaling_callback import ForecastEarlyStopping, ScalingLawCallback
from tiny_models import CurveModule, curve_loaders, plateau_curve, trainer_kwargs

callbacks = [ScalingLawCallback(min_delta=0.1), ForecastEarlyStopping(min_delta=0.1, patience=2), TQDMProgressBar()]
trainer = L.Trainer(callbacks=callbacks, logger=False, **trainer_kwargs({tmp!r}, max_steps=400, val_check_interval=40,
                                                                          limit_val_batches=1, enable_progress_bar=True))
trainer.fit(CurveModule(plateau_curve), *curve_loaders(400))
"""


def run_in_terminal(code, cwd, timeout=240):
    """Everything `python -c code` writes to its terminal (stdout and stderr, a 160-column pty)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # the child closed the terminal (Linux: EIO)
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_advice_gate_and_summary_lines_start_at_column_0_under_a_tqdm_bar(tmp_path):
    out = ANSI.sub("", run_in_terminal(RUN.format(tests=TESTS, tmp=str(tmp_path)), str(tmp_path)))
    found = list(OURS.finditer(out))
    kinds = {m.group(0).split()[-1] if m.group(0).startswith("step") else m.group(0) for m in found}
    assert kinds == {"warning:", "ForecastEarlyStopping: Stopped", "scaling-callback: N = "}, out[-3000:]
    glued = [out[max(0, m.start() - 50):m.end()] for m in found if m.start() and out[m.start() - 1] not in "\r\n"]
    assert not glued, glued  # before the fix: '…1/1 [00:00<00:00, 208.38it/s]step 120: warning: …'
    assert "Epoch 0:" in out  # the bar was there
