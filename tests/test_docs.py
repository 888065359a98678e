"""docs/api.md and docs/cli.md are generated from the code; they must match it."""
import importlib.util
import os

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")


def test_api_and_cli_reference_are_up_to_date(capsys):
    spec = importlib.util.spec_from_file_location("make_api", os.path.join(DOCS, "make_api.py"))
    make_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_api)
    assert make_api.main(["--check"]) == 0, capsys.readouterr().out


def test_api_reference_documents_every_public_name():
    import scaling_callback

    with open(os.path.join(DOCS, "api.md")) as f:
        headings = {line[len("### `"):-1].strip("`") for line in f.read().splitlines() if line.startswith("### `")}
    assert headings == set(scaling_callback._PUBLIC)
