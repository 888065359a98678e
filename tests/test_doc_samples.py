"""The terminal output shown in docs/callback.md and docs/plain_loop.md is what the commands named
beside it print now (docs/make_samples.py): hand-copied numbers drifted from the code before."""
import importlib.util
import os

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")


def test_doc_samples_are_what_their_commands_print(capsys):
    spec = importlib.util.spec_from_file_location("make_samples", os.path.join(DOCS, "make_samples.py"))
    make_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_samples)
    assert make_samples.main(["--check"]) == 0, capsys.readouterr().out
