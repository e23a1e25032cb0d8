"""The package's layering: each layer imports only the layers below it, and nothing cycles.

Every import counts, at module level or inside a function (a deferred import is still a
dependency); ``if TYPE_CHECKING:`` blocks do not exist in this tree.
"""

import ast
import collections
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "napari_picasso"

# Bottom to top. A module may import its own layer and the layers below it.
LAYERS = [
    {"core"},
    {"io"},
    {
        "parameters",
        "fitters",
        "detection",
        "pipeline",
        "db",
        "simulate",
        "camera_offset",
        "postprocess",
        "calibrate",
        "groups",
        "plots",
        "zplot",
        "kernel_cache",
        "splitter",
    },
    {"watcher", "distributed"},
    {"server", "layer_data", "output_folders", "_reader", "_writer", "_sample_data"},
    {"commands", "cli", "__main__", "_widgets"},
]
# Who may import these (besides themselves).
ONLY_FROM = {"commands": {"cli"}, "_widgets": set()}
QT_MODULES = {"qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt"}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """``(internal module names, external top-level names)`` imported anywhere in ``path``."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    internal, external = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (internal if alias.name.startswith("napari_picasso") else external).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("napari_picasso"):
                external.add(target.split(".")[0])
                continue
            for alias in node.names:
                internal.add(f"{target}.{alias.name}")
    return internal, {name.split(".")[0] for name in external}


def _graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges, external = {}, {}
    for name, path in modules.items():
        internal, external[name] = _imports(path)
        # "from .pkg import name" names a module when one exists, else the package
        edges[name] = {target if target in modules else target.rsplit(".", 1)[0] for target in internal}
        edges[name].discard(name)
    return modules, edges, external


def _part(module):
    """The top-level part of the package a module belongs to (``core``, ``io`` ...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(part):
    for index, layer in enumerate(LAYERS):
        if part in layer:
            return index
    return None


def test_every_part_has_a_layer():
    modules, _, _ = _graph()
    parts = {_part(m) for m in modules} - {""}
    assert {p for p in parts if _layer(p) is None} == set(), "add new package parts to LAYERS"


def test_no_layer_imports_a_higher_one():
    _, edges, _ = _graph()
    wrong = []
    for source, targets in edges.items():
        for target in targets:
            low, high = _part(source), _part(target)
            if low and high and low != high and _layer(high) > _layer(low):
                wrong.append(f"{source} imports {target}")
    assert wrong == []


def test_commands_and_widgets_are_imported_only_by_their_front_ends():
    _, edges, _ = _graph()
    wrong = []
    for source, targets in edges.items():
        for target in targets:
            part = _part(target)
            if part in ONLY_FROM and _part(source) not in ONLY_FROM[part] | {part}:
                wrong.append(f"{source} imports {target}")
    assert wrong == []


def test_qt_only_in_widgets():
    _, _, external = _graph()
    wrong = {m: sorted(q & QT_MODULES) for m, q in external.items() if q & QT_MODULES and _part(m) != "_widgets"}
    assert wrong == {}


def test_core_needs_numpy_and_numba_only():
    import sys

    _, _, external = _graph()
    allowed = {"numpy", "numba", "__future__"} | set(sys.stdlib_module_names)
    wrong = {m: sorted(e - allowed) for m, e in external.items() if _part(m) == "core" and e - allowed}
    assert wrong == {}


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    _, edges, _ = _graph()
    # A package's __init__ importing its own submodules is its table of contents, not a cycle.
    edges = {
        source: {t for t in targets if not (t.startswith(source + ".") or source.startswith(t + "."))}
        for source, targets in edges.items()
    }
    assert _cycles(edges) == []


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert _cycles(edges) == expected


def test_the_layer_check_sees_a_wrong_import(tmp_path, monkeypatch):
    # Proves the parser: a core module importing the pipeline is reported.
    fake = tmp_path / "napari_picasso"
    (fake / "core").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "pipeline.py").write_text("")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "core" / "bad.py").write_text("def f():\n    from ..pipeline import localize\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    _, edges, _ = _graph()
    assert edges["napari_picasso.core.bad"] == {"napari_picasso.pipeline"}
    with pytest.raises(AssertionError):
        test_no_layer_imports_a_higher_one()
    assert collections.Counter(_part(m) for m in edges)["core"] == 2
