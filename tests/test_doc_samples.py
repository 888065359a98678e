"""The terminal output shown in docs/callback.md and docs/plain_loop.md is what the commands named
beside it print now (docs/make_samples.py): hand-copied numbers drifted from the code before."""
import importlib.util
import os

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")


def test_doc_samples_are_what_their_commands_print(capsys):
    spec = importlib.util.spec_from_file_location("make_samples", os.path.join(DOCS, "make_samples.py"))
    make_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_samples)
    # the quick start's sample is checked on the run tests/test_quickstart.py makes anyway
    assert sorted(make_samples.SAMPLES) == ["plain-loop", "quickstart-summary"], "a new sample needs a check"
    assert make_samples.main(["--check", "plain-loop"]) == 0, capsys.readouterr().out
