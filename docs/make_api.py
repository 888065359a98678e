"""Write docs/api.md (every public name of `scaling_callback`, from its docstring and signature),
docs/cli.md (the `scaling-callback` command's --help texts) and docs/tags.md (every logged tag,
from core/tags.py), so the references cannot drift from the code.

    python3 docs/make_api.py            # rewrite docs/api.md and docs/cli.md
    python3 docs/make_api.py --check    # exit 1 if either is out of date (tests/test_docs.py runs this)

Public names are those of `scaling_callback._PUBLIC`, grouped by the module that defines them,
in the order they appear there.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy

import scaling_callback  # noqa: E402

API_MD = ROOT / "docs" / "api.md"
CLI_MD = ROOT / "docs" / "cli.md"
TAGS_MD = ROOT / "docs" / "tags.md"
# Lightning calls these on a callback; the reference names them instead of documenting each
LIGHTNING_HOOKS = {"setup", "teardown", "state_dict", "load_state_dict", "state_key"}
WIDTH = 100


def first_paragraph(doc: str) -> str:
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def rest_of(doc: str) -> str:
    parts = doc.split("\n\n", 1)
    return parts[1].strip("\n") if len(parts) > 1 else ""


def documented(doc: str) -> List[str]:
    """A docstring as Markdown: its first paragraph as prose, the rest verbatim in a text block."""
    lines = [first_paragraph(doc), ""]
    rest = rest_of(doc)
    if rest:
        lines += ["```text", rest, "```", ""]
    return lines


class _Text:
    """An annotation kept as text (`from __future__ import annotations`), shown without quotes."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return self.text


def signature(name: str, obj) -> str:
    """`name(params) -> returns`, one parameter per line when it does not fit on one line."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    unquoted = [p.replace(annotation=_Text(p.annotation)) if isinstance(p.annotation, str) else p
                for p in sig.parameters.values()]
    returns = sig.return_annotation
    sig = sig.replace(parameters=unquoted, return_annotation=_Text(returns) if isinstance(returns, str) else returns)
    params = [str(p) for p in sig.parameters.values()]
    text = str(sig)
    ret = text[text.rindex(")") + 1:] if not text.endswith(")") else ""
    one_line = f"{name}{text}"
    if len(one_line) <= WIDTH:
        return one_line
    return f"{name}(\n" + "".join(f"    {p},\n" for p in params) + f"){ret}"


def constant_comment(module, name: str) -> str:
    """The trailing `# comment` of the constant's assignment in its module's source."""
    source = inspect.getsource(module)
    match = re.search(rf"^{re.escape(name)}\s*(?::[^=]*)?=[^#\n]*#\s*(.+)$", source, re.MULTILINE)
    return match.group(1).strip() if match else ""


def own_members(cls) -> Dict[str, object]:
    """Public methods and properties that scaling_callback's classes define (not Lightning's, not object's)."""
    members = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("scaling_callback"):
            continue
        for key, value in vars(klass).items():
            if key.startswith("_") or not (callable(value) or isinstance(value, (property, classmethod, staticmethod))):
                continue
            members[key] = value
    return members


def anchor(name: str) -> str:
    """An id of its own for each name: headings `forecast` and `Forecast` would share one."""
    return f"{'class-' if inspect.isclass(getattr(scaling_callback, name)) else ''}{name.lower()}"


def heading(name: str) -> List[str]:
    return [f'<a id="{anchor(name)}"></a>', "", f"### `{name}`", ""]


def class_section(name: str, cls) -> List[str]:
    shown = signature(name, cls).removesuffix(" -> None")  # a dataclass __init__'s annotation
    lines = heading(name) + ["```python", f"class {shown}", "```", ""]
    lines += documented(inspect.getdoc(cls) or "")
    if dataclasses.is_dataclass(cls):
        fields = ", ".join(f"`{f.name}`" for f in dataclasses.fields(cls))
        lines += [f"Frozen dataclass; fields: {fields}." if cls.__dataclass_params__.frozen
                  else f"Dataclass; fields: {fields}.", ""]
    members = own_members(cls)
    hooks = sorted(key for key in members if key.startswith("on_") or key in LIGHTNING_HOOKS)
    bare_properties = []  # properties without a docstring: named together in one line
    for key, member in members.items():
        if key in hooks or (dataclasses.is_dataclass(cls) and key in {f.name for f in dataclasses.fields(cls)}):
            continue
        if isinstance(member, property):
            doc = inspect.getdoc(member)
            if not doc:
                bare_properties.append(key)
                continue
            lines += [f"#### `{name}.{key}` (property)", ""]
        else:
            function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            shown = signature(f"{name}.{key}", function).replace("(self, ", "(").replace("(self)", "()")
            shown = shown.replace("(cls, ", "(").replace("(cls)", "()").replace("(\n    self,\n", "(\n")
            lines += [f"#### `{name}.{key}`", "", "```python", shown, "```", ""]
            doc = inspect.getdoc(function)
        lines += documented(doc) if doc else []
    if bare_properties:
        lines += ["Properties: " + ", ".join(f"`{key}`" for key in bare_properties) + ".", ""]
    if hooks:
        lines += ["Callback hooks it implements: " + ", ".join(f"`{h}`" for h in hooks) + ".", ""]
    return lines


def name_section(name: str, module_name: str) -> List[str]:
    obj = getattr(scaling_callback, name)
    if inspect.isclass(obj):
        return class_section(name, obj)
    if callable(obj):
        return heading(name) + ["```python", signature(name, obj), "```", ""] + documented(inspect.getdoc(obj) or "")
    module = importlib.import_module(f"scaling_callback.{module_name}")
    comment = constant_comment(module, name)
    return heading(name) + ["```python", f"{name} = {obj!r}", "```", ""] + ([comment, ""] if comment else [])


def api_markdown() -> str:
    by_module: Dict[str, List[str]] = {}
    for name, module_name in scaling_callback._PUBLIC.items():
        by_module.setdefault(module_name, []).append(name)
    lines = ["# API reference", "",
             "<!-- generated by `python3 docs/make_api.py` from the docstrings; edit those, not this file -->", "",
             "Every public name of `scaling_callback` (`from scaling_callback import NAME`), grouped by the "
             "module that defines it. The numpy side imports neither torch nor Lightning. The command line "
             "is in [cli.md](cli.md).", ""]
    for module_name, names in by_module.items():
        links = ", ".join(f"[`{n}`](#{anchor(n)})" for n in names)
        lines.append(f"- `scaling_callback.{module_name}`: {links}")
    lines.append("")
    for module_name, names in by_module.items():
        module = importlib.import_module(f"scaling_callback.{module_name}")
        lines += [f"## `scaling_callback.{module_name}`", ""]
        if module.__doc__:
            lines += [first_paragraph(inspect.cleandoc(module.__doc__)), ""]
        for name in names:
            lines += name_section(name, module_name)
    return "\n".join(lines).rstrip("\n") + "\n"


def tags_markdown() -> str:
    from scaling_callback.core import tags

    return "\n".join([
        "# Every logged tag", "",
        "<!-- generated by `python3 docs/make_api.py` from scaling_callback/core/tags.py; edit that, not this file -->",
        "", "Every name the package logs, defined once in `scaling_callback/core/tags.py`. Scalars go to every "
        "logger of the Trainer at `trainer.global_step`; text and images to TensorBoard only. With several "
        "`ScalingLawCallback`s in one Trainer, see [callback.md](callback.md).", "",
        tags.tags_markdown(), ""])


class _Captured(Exception):
    pass


def cli_parser() -> argparse.ArgumentParser:
    """The parser `scaling_callback.cli.main` builds, caught at its parse_args call."""
    from scaling_callback import cli

    captured = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        captured["parser"] = self
        raise _Captured

    argparse.ArgumentParser.parse_args = capture
    try:
        cli.main([])
    except _Captured:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured["parser"]


def cli_markdown() -> str:
    with _columns(WIDTH):
        parser = cli_parser()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        lines = ["# Command line: `scaling-callback`", "",
                 "<!-- generated by `python3 docs/make_api.py` from the --help texts; edit those, not this file -->",
                 "", "Installed with the package (`pip install -e .`); also `python3 -m scaling_callback.cli`. "
                 "It imports neither torch nor Lightning. The Python API is in [api.md](api.md).", "",
                 "```text", f"$ {parser.prog} --help", parser.format_help().rstrip(), "```", ""]
        for name, sub in commands.items():
            lines += [f"## `{parser.prog} {name}`", "", "```text", f"$ {sub.prog} --help", sub.format_help().rstrip(),
                      "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


@contextlib.contextmanager
def _columns(width: int):
    """argparse wraps help to $COLUMNS: fix it so the output does not depend on the terminal."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is out of date")
    args = p.parse_args(argv)
    stale = []
    for path, text in ((API_MD, api_markdown()), (CLI_MD, cli_markdown()), (TAGS_MD, tags_markdown())):
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date (run python3 docs/make_api.py): " + ", ".join(str(p.relative_to(ROOT)) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
