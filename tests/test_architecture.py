"""Architecture rules of the ``stimsim`` package, checked on its source with :mod:`ast` (docs/architecture.md).

1. **No import cycles.** Every import statement of every module of ``stimsim/`` -- including those
   inside functions and under ``if TYPE_CHECKING:``, since a deferred import still ties the two
   modules together -- is an edge of a graph of stimsim modules; every strongly connected component
   of more than one module is a cycle and fails :func:`test_no_import_cycles`. Edges:

   * ``import stimsim.a.b`` -> ``stimsim.a.b``;
   * ``from stimsim.a import b`` (or the relative ``from .a import b``, resolved against the
     importing module's package) -> ``stimsim.a.b`` when that is a module, else ``stimsim.a``
     (``b`` is then a name defined in ``stimsim/a/__init__.py``);
   * a target that is not a module of the package falls back to its longest prefix that is.

   The implicit import of parent packages (``import stimsim.a.b`` first runs
   ``stimsim/__init__.py`` and ``stimsim/a/__init__.py``) is NOT an edge: every module would then
   depend on ``stimsim/__init__.py``, which imports nearly everything, and the graph would be one
   cycle saying nothing. Dynamic imports (``importlib.import_module``) are not seen.

2. **No engine knows a model's name.** Outside ``stimsim/models/``, ``stimsim/kernels/`` and
   ``stimsim/reproduce/`` (which may name models: they define them, compile them, or reproduce a
   paper's figures with named models), no code compares something that denotes a model with a
   registered model name (``stimsim.models.available()``); engines ask the model object for its
   capabilities instead. A comparison is flagged when

   * its operator is ``==``, ``!=``, ``in`` or ``not in`` (each link of a chain ``a == b == c`` on
     its own), or it is a ``match`` statement's ``case``; and
   * one side is a model-name literal: a ``str`` constant equal to a registered name, or a
     tuple/list/set display containing one (for ``match``: a case pattern that is, or is an
     ``|``-alternative of, such a constant); and
   * the other side (the ``match`` subject) *denotes a model*: its source text contains
     ``model`` (case-insensitive: ``model``, ``model_name``, ``carrier.models``,
     ``table.model``, ``spec["model"]``, ``self._model.name``), or it is an attribute ``.name``
     of anything (``m.name``).

   Why the second half: ``'network'`` is also an ordinary word, e.g. the ``[network]`` table of a
   protocol file, so ``key == "network"`` or ``"network" in data`` (``data`` a parsed TOML dict) is
   not a model-name comparison and is not flagged. The rule cannot see a model name that reaches
   a comparison through a variable whose name does not say so (``kind = m.name; kind == "nmm2"``);
   code review has to catch those.

Both whole-package tests list every offence (module names of each cycle with the import lines
that close it; file:line of each comparison). Each rule's checker is itself tested on a synthetic
package written to ``tmp_path``, so a pass means "no offence", not "the checker saw nothing".
"""
from __future__ import annotations

import ast
import pathlib
import textwrap

import stimsim
import stimsim.models

PACKAGE_DIR = pathlib.Path(stimsim.__file__).resolve().parent
#: packages that may name models (see the module docstring, rule 2)
MAY_NAME_MODELS = ("models", "kernels", "reproduce")


# --- shared: the modules of a package --------------------------------------------------------------
def package_modules(package_dir):
    """Every module of the package at ``package_dir``: {dotted name: (path, is_package)}.

    Names start with the package directory's name (``stimsim``); a package's ``__init__.py`` is
    the package itself (``stimsim.dynamics``).
    """
    package_dir = pathlib.Path(package_dir)
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _relative_path(path, package_dir):
    """``path`` relative to the directory holding the package (the repository), for messages."""
    return pathlib.Path(path).relative_to(pathlib.Path(package_dir).parent).as_posix()


# --- rule 1: the import graph ------------------------------------------------------------------------
def _known(target, modules):
    """``target`` if it is a module of the package, else its longest prefix that is (or None)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def imported_modules(module, is_package, node, modules):
    """The package modules one ``Import``/``ImportFrom`` node of ``module`` points at (see rule 1)."""
    root = module.split(".")[0]

    def inside(name):
        return name == root or name.startswith(root + ".")

    if isinstance(node, ast.Import):
        return {m for a in node.names if inside(a.name) and (m := _known(a.name, modules))}
    if node.level:
        # a relative import counts from the importing module's package (the module itself if it is one)
        base = module.split(".") if is_package else module.split(".")[:-1]
        if node.level - 1 >= len(base):
            return set()  # beyond the top-level package: not ours (and an error at import time)
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if not inside(source):
        return set()
    targets = set()
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        target = submodule if submodule in modules else _known(source, modules)
        if target:
            targets.add(target)
    return targets


def import_graph(package_dir):
    """{module: {imported module: [line numbers]}} over every import statement of the package."""
    modules = package_modules(package_dir)
    graph = {}
    for module, (path, is_package) in modules.items():
        edges = graph.setdefault(module, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in imported_modules(module, is_package, node, modules):
                    if target != module:
                        edges.setdefault(target, []).append(node.lineno)
    return graph


def strongly_connected_components(graph):
    """Tarjan's algorithm (iterative, so depth is not limited by the recursion limit)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, successors = work[-1]
            for w in successors:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    components.append(sorted(component))
    return components


def import_cycles(package_dir):
    """Import cycles of the package: sorted lists of modules (components of more than one module)."""
    graph = import_graph(package_dir)
    return sorted(c for c in strongly_connected_components(graph) if len(c) > 1), graph


def describe_cycles(cycles, graph, package_dir):
    """One block per cycle: its modules, then each import edge inside it with file:line."""
    modules = package_modules(package_dir)
    lines = []
    for cycle in cycles:
        lines.append("cycle: " + ", ".join(cycle))
        for a in cycle:
            path = _relative_path(modules[a][0], package_dir)
            for b in sorted(set(graph[a]) & set(cycle)):
                where = ", ".join(f"{path}:{n}" for n in sorted(graph[a][b]))
                lines.append(f"    {a} -> {b}  ({where})")
    return "\n".join(lines)


def test_no_import_cycles():
    cycles, graph = import_cycles(PACKAGE_DIR)
    assert not cycles, (f"{len(cycles)} import cycle(s) in stimsim (docs/architecture.md, layers):\n"
                        + describe_cycles(cycles, graph, PACKAGE_DIR))


def _write_package(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / "pkg"


def test_import_graph_finds_a_cycle_through_a_deferred_import(tmp_path):
    pkg = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",                         # `from pkg import <module>`
        "pkg/b.py": "def f():\n    from .sub.c import g\n",      # inside a function
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "import os\nfrom ..a import thing\n",     # relative, two levels; `thing` a name
        "pkg/d.py": "import pkg.a\n",                             # into the cycle, not part of it
    })
    cycles, graph = import_cycles(pkg)
    assert cycles == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert graph["pkg.b"] == {"pkg.sub.c": [2]}
    assert "pkg.a -> pkg.b  (pkg/a.py:1)" in describe_cycles(cycles, graph, pkg)


def test_import_graph_counts_a_name_of_a_package_init_as_the_package(tmp_path):
    pkg = _write_package(tmp_path, {
        "pkg/__init__.py": "from .a import f\n",
        "pkg/a.py": "from .b import g\n",
        "pkg/b.py": "def g():\n    from . import VERSION\n",   # a name of pkg/__init__.py: edge to pkg
    })
    cycles, _ = import_cycles(pkg)
    assert cycles == [["pkg", "pkg.a", "pkg.b"]]


def test_import_graph_without_a_cycle(tmp_path):
    pkg = _write_package(tmp_path, {
        "pkg/__init__.py": "from .a import f\n",
        "pkg/a.py": "import numpy\nfrom .b import g\n",
        "pkg/b.py": "def g():\n    import pkg.sub\n",
        "pkg/c.py": "from .a import f\nfrom pkg import a\n",
        "pkg/d.py": "",
        "pkg/sub/__init__.py": "from .. import d\n",
    })
    cycles, graph = import_cycles(pkg)
    assert cycles == []
    assert graph == {"pkg": {"pkg.a": [1]}, "pkg.a": {"pkg.b": [2]}, "pkg.b": {"pkg.sub": [2]},
                     "pkg.c": {"pkg.a": [1, 2]}, "pkg.d": {}, "pkg.sub": {"pkg.d": [1]}}


# --- rule 2: no engine compares a model's name ---------------------------------------------------
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _model_literal(node, names):
    """Whether ``node`` is a model-name str constant or a tuple/list/set display containing one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in names
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_model_literal(e, names) for e in node.elts if isinstance(e, ast.Constant))
    return False


def _denotes_model(node):
    """Whether ``node`` stands for a model: its text mentions 'model', or it is ``<anything>.name``."""
    if isinstance(node, ast.Constant):  # a literal is never a model, even the string "model"
        return False
    if isinstance(node, ast.Attribute) and node.attr == "name":
        return True
    return "model" in ast.unparse(node).lower()


def _pattern_names_model(pattern, names):
    if isinstance(pattern, ast.MatchValue):
        return _model_literal(pattern.value, names)
    if isinstance(pattern, ast.MatchOr):
        return any(_pattern_names_model(p, names) for p in pattern.patterns)
    if isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        return _pattern_names_model(pattern.pattern, names)
    return False


def model_name_comparisons(tree, names):
    """(line, source text) of every comparison in ``tree`` that tests a model's name (rule 2)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                if isinstance(op, _COMPARE_OPS) and (
                        (_model_literal(right, names) and _denotes_model(left))
                        or (_model_literal(left, names) and _denotes_model(right))):
                    found.append((node.lineno, ast.unparse(node)))
                    break
                left = right
        elif isinstance(node, ast.Match) and _denotes_model(node.subject):
            for case in node.cases:
                if _pattern_names_model(case.pattern, names):
                    found.append((case.pattern.lineno, f"match {ast.unparse(node.subject)}: "
                                                       f"case {ast.unparse(case.pattern)}"))
    return sorted(found)


def model_name_findings(package_dir, names, allowed=MAY_NAME_MODELS):
    """'file:line: code' of every model-name comparison outside the ``allowed`` subpackages."""
    package_dir = pathlib.Path(package_dir)
    findings = []
    for module, (path, _) in package_modules(package_dir).items():
        if module.split(".")[1:2] and module.split(".")[1] in allowed:  # stimsim.<allowed>[...]
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, text in model_name_comparisons(tree, names):
            findings.append(f"{_relative_path(path, package_dir)}:{line}: {text}")
    return findings


def test_no_engine_compares_a_model_name():
    names = set(stimsim.models.available())
    assert {"nmm2", "nmm1", "network"} <= names  # the rule is vacuous if the registry is empty
    findings = model_name_findings(PACKAGE_DIR, names)
    assert not findings, (
        f"{len(findings)} comparison(s) of a model's name outside stimsim/models, kernels, reproduce: "
        "ask the model object for a capability instead (docs/architecture.md):\n  " + "\n  ".join(findings))


def test_model_name_detector(tmp_path):
    pkg = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/engine.py": """\
            def run(m, model, carrier, spec):
                if m.name == "nmm2":                       # 2: flagged
                    pass
                if model not in ("nmm2", "nmm1"):          # 4: flagged
                    pass
                if "network" in carrier.models:            # 6: flagged
                    pass
                ok = 0 < 1 != spec["model"] == "nmm1"      # 8: flagged (one link of a chain)
                match model.name:
                    case "nmm1" | "other":                 # 10: flagged
                        pass
                    case _:
                        pass
            """,
        "pkg/io.py": """\
            def read(data, key, m):
                table = data.get("network")               # not a comparison
                if "network" in data:                     # a TOML table, not a model
                    pass
                if key == "network" or key != "nmm2":     # a key, not a model
                    pass
                if m.name == "pyramidal":                 # not a model name
                    pass
                return [k for k in data if k in ("network", "drive")]
            """,
        "pkg/models/__init__.py": "",
        "pkg/models/base.py": "def f(m):\n    return m.name == 'nmm2'\n",  # allowed to name models
    })
    names = {"nmm2", "nmm1", "network"}
    assert model_name_findings(pkg, names) == [
        "pkg/engine.py:2: m.name == 'nmm2'",
        "pkg/engine.py:4: model not in ('nmm2', 'nmm1')",
        "pkg/engine.py:6: 'network' in carrier.models",
        "pkg/engine.py:8: 0 < 1 != spec['model'] == 'nmm1'",
        "pkg/engine.py:10: match model.name: case 'nmm1' | 'other'",
    ]


# --- who writes files ----------------------------------------------------------------------------
#: the modules that may write files (docs/architecture.md): result files, figures and metadata go
#: through stimsim/io.py, sweep parts through the sweep store
MAY_WRITE = ("io.py", "sweep/_store.py")
WRITERS = ("to_csv", "to_parquet", "to_json", "savefig", "write_text", "write_bytes", "dump")


def file_writes(tree):
    """Line numbers of calls that write files: a method named in WRITERS, or open(..., 'w'/'a'/'x')."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in WRITERS:
            lines.append(node.lineno)
        elif isinstance(f, (ast.Name, ast.Attribute)) and (getattr(f, "id", None) == "open" or getattr(f, "attr", None) == "open"):
            modes = [a for a in node.args[1:2]] + [k.value for k in node.keywords if k.arg == "mode"]
            if any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax") for m in modes):
                lines.append(node.lineno)
    return lines


def test_only_io_and_the_sweep_store_write_files():
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        if rel in MAY_WRITE:
            continue
        found += [f"stimsim/{rel}:{n}" for n in file_writes(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, "files written outside stimsim/io.py and stimsim/sweep/_store.py:\n" + "\n".join(found)
    store = ast.parse((PACKAGE_DIR / "sweep" / "_store.py").read_text(encoding="utf-8"))
    assert file_writes(store) and file_writes(ast.parse((PACKAGE_DIR / "io.py").read_text(encoding="utf-8")))
