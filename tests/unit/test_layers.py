"""The floor plan holds: every module sits in a layer of the import-linter
contract in pyproject.toml, no layer imports one above it, and no two modules
import each other, directly or round a circle (docs/architecture.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("provisioner", "tftp", "pxelinux", "media")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contract() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "layers"]
    return contract


def _layer_modules() -> list[str]:
    layers = _contract()["layers"]
    assert isinstance(layers, list)
    return [m.strip() for layer in layers for m in layer.replace("|", ":").split(":")]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_layer_contract_is_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_every_module_belongs_to_a_layer() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    layers = _layer_modules()
    homeless = sorted(
        m
        for m in graph.modules
        if m not in PACKAGES and not any(m == lay or m.startswith(lay + ".") for lay in layers)
    )
    assert homeless == [], f"add these to a layer in pyproject.toml: {homeless}"


def test_no_module_imports_round_a_circle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    circles = _circles({m: graph.find_modules_directly_imported_by(m) for m in graph.modules})
    assert circles == [], f"import circles: {circles}"


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("provisioner/bootparams.py", "import provisioner.web"),  # kernel -> edge
        ("tftp/packet.py", "import provisioner.service"),  # library -> application
        ("provisioner/store.py", "import provisioner.cli.root"),  # application -> edge
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, upward: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{upward}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout or "broken" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout, result.stdout
