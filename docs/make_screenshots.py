"""Screenshots of the real TensorBoard UI for the docs: run the example (or take a log dir), serve
it with TensorBoard on 127.0.0.1, photograph dashboards with headless Chromium, stop TensorBoard.

    python3 docs/make_screenshots.py                      # runs examples/train_gpt.py (defaults) first
    python3 docs/make_screenshots.py --logdir runs/train_gpt   # an existing log dir instead
    python3 docs/make_screenshots.py -- --max-steps 400   # arguments after -- go to the example

Needs Chromium (Debian: `apt-get install chromium`; or --chromium PATH) and TensorBoard. Writes
docs/img/tensorboard_<name>.png, one per dashboard in SHOTS (--out DIR elsewhere; --shots NAME...
for some), palette-quantised with Pillow to keep the files small. Refuses a dashboard that has
nothing to show (no matching tag, no custom-scalars layout), so an empty page is never saved.
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
from typing import NamedTuple, Optional, Tuple
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent


class Shot(NamedTuple):
    fragment: str  # URL fragment of the TensorBoard page
    plugin: str  # the TensorBoard plugin whose data the page shows
    must_match: Optional[str]  # regex a tag of that plugin must match (None: the plugin has any data)
    size: Tuple[int, int]  # window width, height in CSS pixels


# the forecast charts beside the observed loss; the Custom Scalars charts; the figure; the advice in
# words; the throughput; the scale
SHOTS = {
    "forecast": Shot("#scalars&tagFilter=" + quote(r"^(val_loss$|forecast/(final_loss|asymptotic_loss))", safe="")
                     + "&_smoothingWeight=0", "scalars", r"^forecast/final_loss$", (1000, 1075)),
    "custom_scalars": Shot("#custom_scalars", "custom_scalars", None, (1400, 800)),  # default smoothing, as a user sees it
    "figure": Shot("#images&tagFilter=" + quote("^forecast/", safe=""), "images", r"^forecast/", (1000, 550)),
    "advice_text": Shot("#text&tagFilter=" + quote("^advice/", safe=""), "text", r"^advice/", (1250, 800)),
    "throughput": Shot("#scalars&tagFilter=" + quote("^throughput/", safe="") + "&_smoothingWeight=0", "scalars",
                       r"^throughput/", (1000, 560)),
    "scaling": Shot("#scalars&tagFilter=" + quote("^scaling/", safe="") + "&_smoothingWeight=0", "scalars",
                    r"^scaling/", (1000, 960)),
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


def wait_for_tensorboard(base: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll until TensorBoard serves scalars."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"TensorBoard exited with code {process.returncode}")
        try:
            if get_json(f"{base}/data/plugin/scalars/tags"):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"TensorBoard at {base} served no scalars within {timeout:.0f} s")


def shown_data(base: str, shot: Shot) -> bool:
    """Whether the page of `shot` has something to show: a matching tag, or a custom-scalars layout."""
    if shot.plugin == "custom_scalars":
        return bool(get_json(f"{base}/data/plugin/custom_scalars/layout"))
    tags = {tag for run_tags in get_json(f"{base}/data/plugin/{shot.plugin}/tags").values() for tag in run_tags}
    return any(re.search(shot.must_match, tag) for tag in tags)


def screenshot(chromium: str, url: str, out: Path, size: Tuple[int, int], scale: float, render_ms: int) -> None:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                   f"--force-device-scale-factor={scale}",
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
    p.add_argument("--scale", type=float, default=1.25, help="device pixels per CSS pixel (sharper, bigger PNGs)")
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
        wait_for_tensorboard(base, tensorboard, timeout=120)
        for name in args.shots:
            shot = SHOTS[name]
            if not shown_data(base, shot):
                raise SystemExit(f"shot {name!r}: the {shot.plugin} dashboard has nothing to show "
                                 f"(no tag matches {shot.must_match!r}, or no layout) in {logdir}")
            out = args.out / f"tensorboard_{name}.png"
            screenshot(args.chromium, f"{base}/{shot.fragment}", out, shot.size, args.scale, args.render_ms)
            shrink_png(out)
            print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) from {base}/{shot.fragment}")
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
