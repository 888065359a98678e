"""Screenshots of the real TensorBoard UI for the docs: run the example (or take a log dir), serve
it with TensorBoard on 127.0.0.1, photograph dashboards with headless Chromium, stop TensorBoard.

    python3 docs/make_screenshots.py                      # runs examples/train_gpt.py (defaults) first
    python3 docs/make_screenshots.py --logdir runs/train_gpt   # an existing log dir instead
    python3 docs/make_screenshots.py -- --max-steps 400   # arguments after -- go to the example

Needs Chromium (Debian: `apt-get install chromium`; or --chromium PATH) and TensorBoard. Writes
docs/img/tensorboard_<name>.png, one per dashboard in SHOTS (--out DIR elsewhere), palette-
quantised with Pillow to keep the files small. Refuses a shot whose tag filter matches no logged
scalar, so a screenshot never shows an empty dashboard by mistake.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> (URL fragment of the TensorBoard page, regex a logged scalar tag must match, or None)
SHOTS = {
    "forecast": ("#scalars&tagFilter=%5Eforecast%2F&_smoothingWeight=0", r"^forecast/"),
    "scaling": ("#scalars&tagFilter=%5Escaling%2F&_smoothingWeight=0", r"^scaling/"),
    "custom_scalars": ("#custom_scalars", None),
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for_tensorboard(base: str, process: subprocess.Popen, timeout: float) -> dict:
    """Poll until TensorBoard serves scalars; returns {run: [tags]}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"TensorBoard exited with code {process.returncode}")
        try:
            tags = get_json(f"{base}/data/plugin/scalars/tags")
            if tags:
                return {run: sorted(run_tags) for run, run_tags in tags.items()}
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"TensorBoard at {base} served no scalars within {timeout:.0f} s")


def screenshot(chromium: str, url: str, out: Path, width: int, height: int, render_ms: int) -> None:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--virtual-time-budget={render_ms}", f"--screenshot={out}", url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not out.is_file():
            raise SystemExit(f"chromium failed ({result.returncode}):\n{result.stderr[-2000:]}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def shrink_png(path: Path) -> None:
    """Quantise to a 256-colour palette (TensorBoard's flat colours survive it); skipped without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def run_example(logdir: Path, example_args) -> None:
    command = [sys.executable, str(ROOT / "examples" / "train_gpt.py"), "--logdir", str(logdir), *example_args]
    print("running:", " ".join(command), flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    subprocess.run(command, check=True, cwd=ROOT, env=env)  # this checkout's package, installed or not


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logdir", type=Path, help="TensorBoard log dir to show (default: run the example into a fresh one)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the PNGs go")
    p.add_argument("--shots", nargs="+", choices=sorted(SHOTS), default=list(SHOTS), help="dashboards to photograph")
    p.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                   help="the Chromium binary")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=1000)
    p.add_argument("--render-ms", type=int, default=20000, help="virtual time Chromium gives the page to render")
    p.add_argument("example_args", nargs="*", help="after --: arguments for examples/train_gpt.py")
    args = p.parse_args(argv)
    if not args.chromium:
        p.error("no chromium found: apt-get install chromium, or pass --chromium PATH")

    scratch = Path(tempfile.mkdtemp(prefix="tb-screenshots-"))
    logdir = args.logdir
    if logdir is None:
        logdir = scratch / "logs"
        run_example(logdir, args.example_args)
    elif not logdir.is_dir():
        p.error(f"--logdir {logdir} is not a directory")
    args.out.mkdir(parents=True, exist_ok=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tensorboard = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
         "--port", str(port), "--reload_interval", "0"],
        stdout=subprocess.DEVNULL, stderr=open(scratch / "tensorboard.log", "w"))
    try:
        tags = wait_for_tensorboard(base, tensorboard, timeout=120)
        logged = sorted({tag for run_tags in tags.values() for tag in run_tags})
        for name in args.shots:
            fragment, must_match = SHOTS[name]
            if must_match and not any(re.search(must_match, tag) for tag in logged):
                raise SystemExit(f"shot {name!r}: no logged scalar matches {must_match!r}; logged: {logged}")
            out = args.out / f"tensorboard_{name}.png"
            screenshot(args.chromium, f"{base}/{fragment}", out, args.width, args.height, args.render_ms)
            shrink_png(out)
            print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) from {base}/{fragment}")
    finally:
        tensorboard.terminate()
        try:
            tensorboard.wait(timeout=10)
        except subprocess.TimeoutExpired:
            tensorboard.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
