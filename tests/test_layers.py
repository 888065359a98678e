"""The layers the folder tree shows: core/ is numpy/scipy only, tracking/ uses torch but no
training framework, and every logged tag is spelled in core/tags.py alone."""
import ast
import os
import pkgutil
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "scaling_callback")
FRAMEWORKS = ("lightning", "pytorch_lightning", "transformers")
SWEEP_ENGINES = ("optuna", "ray")  # the optional extras only sweeps/ imports


def _modules(subpackage: str):
    path = os.path.join(PACKAGE, subpackage)
    return [f"scaling_callback.{subpackage}.{m.name}" for m in pkgutil.iter_modules([path])]


def _imported_after(modules) -> set:
    """Top-level package names in sys.modules after importing `modules` in a fresh interpreter."""
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True)
    return set(out.stdout.split())


def test_core_and_the_command_line_import_no_torch_and_no_framework():
    modules = _modules("core") + _modules("cli") + ["scaling_callback.io", "scaling_callback.cli"]
    assert len(modules) > 10
    loaded = _imported_after(modules)
    assert not loaded & {"torch", *FRAMEWORKS, *SWEEP_ENGINES}, sorted(loaded & {"torch", *FRAMEWORKS, *SWEEP_ENGINES})


def test_tracking_imports_no_training_framework():
    loaded = _imported_after(_modules("tracking"))
    assert "torch" in loaded
    assert not loaded & {*FRAMEWORKS, *SWEEP_ENGINES}, sorted(loaded & {*FRAMEWORKS, *SWEEP_ENGINES})


def test_core_source_names_no_torch_or_framework_import():
    """Also what a lazy import inside a function would bring in, which the run above cannot see."""
    files = [os.path.join(folder, name) for folder, _, names in os.walk(os.path.join(PACKAGE, "core"))
             for name in names if name.endswith(".py")]
    assert any(os.sep + "forecast" + os.sep in f for f in files)  # the engine's package is walked too
    for name in files:
        tree = ast.parse(open(name).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            assert not set(roots) & {"torch", "matplotlib", "tensorboard", *FRAMEWORKS, *SWEEP_ENGINES}, (name, roots)


def test_only_sweeps_imports_the_sweep_engines_and_the_pruner_needs_no_torch():
    """optuna and ray are extras: no module outside sweeps/ imports them, at module level or
    lazily (its source names neither); Optuna's pruner and the trial attributes run where the
    study runs, with no torch and no framework."""
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or os.sep + "sweeps" + os.sep in path:
                continue
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    roots = {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    roots = {node.module.split(".")[0]}
                else:
                    continue
                assert not roots & set(SWEEP_ENGINES), (os.path.relpath(path, ROOT), roots)
    loaded = _imported_after(["scaling_callback.sweeps.optuna_pruner", "scaling_callback.sweeps.trial_attrs"])
    assert "optuna" in loaded and not loaded & {"torch", *FRAMEWORKS}, sorted(loaded & {"torch", *FRAMEWORKS})


TAG = re.compile(r"""["'](scaling|forecast|advice|gate|throughput)/[A-Za-z_]""")


@pytest.mark.parametrize("path", sorted(
    os.path.join(d, f) for d, _, files in os.walk(PACKAGE) for f in files if f.endswith(".py")))
def test_tags_are_spelled_only_in_tags_py(path):
    if path.endswith(os.path.join("core", "tags.py")):
        return
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not _is_docstring(node, path):
            assert not TAG.match(repr(node.value)), f"{os.path.relpath(path, ROOT)}:{node.lineno} spells {node.value!r}"


def _is_docstring(node, path) -> bool:
    """Docstrings and comments may name a tag for the reader."""
    return "\n" in node.value or " " in node.value.strip()


def test_tests_and_benchmarks_read_the_repository_data_not_a_folder_beside_it():
    """A fresh clone has no ../shared: what the tests and benchmarks read is under data/."""
    pattern = re.compile(r"""["']\.\.["']\s*,\s*["']shared["']|\.\./shared|/\s*["']\.\.["']\s*/\s*["']shared""")
    scripts = [os.path.join(d, f) for folder in ("tests", "benchmarks", "tools")
               for d, _, files in os.walk(os.path.join(ROOT, folder)) for f in files if f.endswith(".py")]
    assert any(os.sep + "studies" + os.sep in path for path in scripts)  # subfolders are walked too
    for path in scripts:
        if path != os.path.abspath(__file__):
            text = open(path).read()
            code = re.sub(r'""".*?"""|#[^\n]*', "", text, flags=re.DOTALL)  # docstrings and comments may cite it
            assert not pattern.search(code), f"{os.path.relpath(path, ROOT)} reads ../shared"
    assert os.path.isfile(os.path.join(ROOT, "data", "curves", "runs.csv"))
    assert os.path.isfile(os.path.join(ROOT, "data", "scaling", "chinchilla_svg_extracted.csv"))


def test_old_import_paths_work_with_a_deprecation_warning():
    code = ("import warnings, importlib\n"
            "warnings.simplefilter('error', DeprecationWarning)\n"
            "import scaling_callback\n"
            "for old, name in [('forecasting', 'forecast'), ('curves', 'read_curves'), ('crossrun', 'fit_scaling_law')]:\n"
            "    try:\n"
            "        importlib.import_module('scaling_callback.' + old)\n"
            "    except DeprecationWarning as w:\n"
            "        assert 'moved to scaling_callback.' in str(w), w\n"
            "    else:\n"
            "        raise AssertionError(old + ' did not warn')\n"
            "warnings.simplefilter('ignore', DeprecationWarning)\n"
            "from scaling_callback.forecasting import forecast\n"
            "from scaling_callback.core.forecast import forecast as new\n"
            "assert forecast is new and new.__module__ == 'scaling_callback.core.forecast'\n"
            "import scaling_callback.core.forecast as m; assert m.__spec__.name == 'scaling_callback.core.forecast'\n"
            "assert scaling_callback.huber_fit.__module__ == 'scaling_callback.core.robust'\n"
            "try:\n"
            "    scaling_callback.no_such_name\n"
            "except AttributeError:\n"
            "    pass\n"
            "else:\n"
            "    raise AssertionError('no AttributeError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------ the package's import graph


def _sources(root: str = PACKAGE, package: str = "scaling_callback"):
    """{module name: (source text, is a package)} of every .py file under `root`."""
    found = {}
    for folder, _, names in os.walk(root):
        parts = [package] + os.path.relpath(folder, root).split(os.sep)
        parts = [p for p in parts if p != "."]
        for name in names:
            if not name.endswith(".py"):
                continue
            is_package = name == "__init__.py"
            module = ".".join(parts if is_package else parts + [name[:-3]])
            with open(os.path.join(folder, name)) as f:
                found[module] = (f.read(), is_package)
    return found


def _imports(module: str, source: str, is_package: bool, modules):
    """(node, imported module, names) for every import of a module in `modules`, at any depth (a
    lazy import inside a function counts), relative ones resolved. `from X import a, b` yields
    (X.a, ()) for each name that is a submodule of X and (X, names) for the rest; `import X.Y`
    yields (X.Y, ())."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield node, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            if base not in modules:
                continue
            rest = []
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    yield node, f"{base}.{alias.name}", ()
                else:
                    rest.append(alias.name)
            if rest:
                yield node, base, tuple(rest)


def _import_graph(sources):
    """{module: set of the modules it imports}, over the modules of `sources` (see _imports).

    A package's parents, which Python initialises on the way to it, are not edges: a package is
    always initialised before its submodules, and an __init__ importing its own submodules to
    re-export their names is the package's facade, not a cycle. It becomes one, and shows here,
    when a submodule imports a name from that __init__ (`from . import name`, `from .. import
    name` where name is not a submodule): that is an edge to the __init__ like any other.
    """
    graph = {m: set() for m in sources}
    for module, (source, is_package) in sources.items():
        for _, target, _ in _imports(module, source, is_package, sources):
            if target != module:
                graph[module].add(target)
    return graph


def _cycles(graph):
    """One cycle (a list of modules, the first repeated at the end) per strongly connected
    component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_one_cycle(graph, component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _one_cycle(graph, component):
    start = min(component)
    paths = [[start]]
    while paths:  # breadth-first: the shortest way back to start inside the component
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & component):
            if w == start:
                return path + [start]
            if w not in path:
                paths.append(path + [w])
    return sorted(component)


def test_the_import_graph_has_no_cycle():
    """No module of scaling_callback imports one that imports it back, directly or through
    others, at module level or lazily inside a function (the rule for packages: _import_graph)."""
    cycles = _cycles(_import_graph(_sources()))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_lazy_cycles_and_a_submodule_importing_its_package_back():
    """The check on small made-up packages: the old crossrun <-> repetition cycle (one side lazy,
    inside a method) is found; an __init__ re-exporting its submodules, which import each other
    one way, is not a cycle; a submodule importing a name from its own __init__ is."""
    old = {"p": ("", True), "p.crossrun": ("from .repetition import DataConstrainedLaw\n", False),
           "p.repetition": ("class DataConstrainedLaw:\n    def compute_optimal(self, C):\n"
                            "        from .crossrun import ChinchillaLaw\n", False)}
    assert _cycles(_import_graph(old)) == [["p.crossrun", "p.repetition", "p.crossrun"]]
    facade = {"p": ("", True), "p.q": ("from .laws import A\nfrom .fit import f\nfrom . import fit\n", True),
              "p.q.laws": ("A = 1\n", False), "p.q.fit": ("from .laws import A\nfrom ..q import laws\n", False)}
    assert _cycles(_import_graph(facade)) == []
    back = dict(facade, **{"p.q.laws": ("from . import f\n", False)})
    assert _cycles(_import_graph(back)) == [["p.q", "p.q.laws", "p.q"]]


# -------------------------------------------------------------------- no private name across modules


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_bindings(module, source, is_package, modules):
    """{local name: module} for the names an import binds to a module of the package."""
    bound = {}
    for node, target, names in _imports(module, source, is_package, modules):
        if names:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == target:
                    top = alias.name.split(".")[0]
                    bound[alias.asname or top] = target if alias.asname else top
        else:
            for alias in node.names:
                if target.endswith("." + alias.name):
                    bound[alias.asname or alias.name] = target
    return bound


def _dotted(node):
    """'a.b.c' for a chain of names and attributes, None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _private_imports(sources):
    """'file:line what' for each private name one module takes from another: `from .m import _x`,
    an import of a module whose path has a part starting with one underscore (`import p._m`,
    `from . import _m`), and `m._x` on a module `m` of the package that an import bound."""
    found = []
    for module, (source, is_package) in sources.items():
        where = module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        for node, target, names in _imports(module, source, is_package, sources):
            if any(_private(part) for part in target.split(".")):
                found.append(f"{where}:{node.lineno} imports the private module {target}")
            found += [f"{where}:{node.lineno} imports {target}.{n}" for n in names if _private(n)]
        bound = _module_bindings(module, source, is_package, sources)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                path = _dotted(node.value)
                head, _, rest = (path or "").partition(".")
                owner = bound.get(head)
                owner = f"{owner}.{rest}" if owner and rest else owner
                if owner in sources:
                    found.append(f"{where}:{node.lineno} reaches {owner}.{node.attr}")
    return sorted(set(found))


def test_no_module_imports_a_private_name_of_another():
    """No underscore name crosses a module boundary inside scaling_callback: what another module
    uses is public. Dunder names (`__version__`) are not private."""
    found = _private_imports(_sources())
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_the_private_import_check_sees_each_form():
    made_up = {"p": ("from . import _old\nfrom .m import _x as y, ok\nimport p.m\n", True),
               "p._old": ("", False),
               "p.m": ("from . import n\nimport p.n as nn\n_x = ok = 1\nn._y, nn._z, n.__doc__\n", False),
               "p.n": ("from .m import __doc__\n", False)}
    assert _private_imports(made_up) == [
        "p/__init__.py:1 imports the private module p._old",
        "p/__init__.py:2 imports p.m._x",
        "p/m.py:4 reaches p.n._y",
        "p/m.py:4 reaches p.n._z",
    ]


def _private_names_defined(source: str) -> set:
    """Underscore names a module defines: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _private(n)}


def test_no_module_reads_a_private_attribute_another_module_defines():
    """`obj._name` where `_name` is defined (as a function, class, name or attribute) by another
    module of scaling_callback and not by this one: e.g. `fit._estimate` on a ScalingLawFit, or
    a callback reaching into another object's `_listeners`. Private attributes of third-party
    objects (torch's `_parameters`) are not the package's names and are not checked here."""
    sources = _sources()
    defined = {m: _private_names_defined(source) for m, (source, _) in sources.items()}
    found = []
    for module, (source, is_package) in sources.items():
        elsewhere = set().union(*(names for m, names in defined.items() if m != module)) - defined[module]
        where = module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and node.attr in elsewhere:
                found.append(f"{where}:{node.lineno} {ast.unparse(node)}")
    assert not found, "private attributes of another module's objects:\n" + "\n".join(sorted(set(found)))


def test_one_version():
    """pyproject reads the version from the package (setuptools' dynamic attr): it is written once."""
    import importlib.metadata

    import scaling_callback

    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert 'dynamic = ["version"]' in text and "\nversion =" not in text.split("[project]")[1].split("\n[")[0]
    assert importlib.metadata.version("scaling-callback") == scaling_callback.__version__
