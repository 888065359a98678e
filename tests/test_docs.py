"""docs/api.md, docs/cli.md and docs/tags.md are generated from the code; they must match it."""
import importlib.util
import re
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


def _anchors(markdown):
    """GitHub's heading anchors (lower case, punctuation dropped, spaces to hyphens) and explicit
    <a id="..."> anchors."""
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_relative_links_in_the_docs_resolve():
    root = os.path.dirname(DOCS)
    pages = [os.path.join(root, "README.md")] + [os.path.join(DOCS, n) for n in os.listdir(DOCS) if n.endswith(".md")]
    broken = []
    for page in pages:
        with open(page) as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.DOTALL)  # links in code are not links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(resolved):
                broken.append(f"{os.path.basename(page)}: {target} (no such file)")
            elif anchor and resolved.endswith(".md"):
                with open(resolved) as f:
                    if anchor not in _anchors(f.read()):
                        broken.append(f"{os.path.basename(page)}: {target} (no such heading)")
    assert not broken, broken


def test_the_forecast_figure_is_drawn_from_the_bundled_curves(tmp_path, capsys):
    """docs/img/forecasts.png is made by docs/make_forecast_figure.py from data/curves (no
    ../shared): the script must keep running, and every run it names must still be there."""
    spec = importlib.util.spec_from_file_location("make_forecast_figure", os.path.join(DOCS, "make_forecast_figure.py"))
    figure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure)
    out = tmp_path / "forecasts.png"
    figure.main(["--out", str(out)])
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.exists(os.path.join(DOCS, "img", "forecasts.png"))
