"""The import rules of docs/ARCHITECTURE.md: chocolib's modules import only from lower layers."""

import ast
import re

from conftest import REPO

PACKAGE = REPO / "chocolib"
DOC = REPO / "docs" / "ARCHITECTURE.md"


def _layers() -> dict[str, int]:
    """Module → layer, read from the document's table (`| 2 | `dataset` | …`)."""
    layers = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (\d+) \| (.+?) \|", line)
        if match:
            for name in re.findall(r"`([a-z_]+)`", match.group(2)):
                layers[name] = int(match.group(1))
    return layers


def _imports(path) -> set[str]:
    """The chocolib modules `path` imports (top-level module names: models.yolo12 → models)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "chocolib":
            parts = node.module.split(".")
            found.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("chocolib."))
    return found


def _module(path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_module_has_a_layer():
    layers = _layers()
    modules = {_module(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert modules <= set(layers), f"not in docs/ARCHITECTURE.md's table: {sorted(modules - set(layers))}"


def test_modules_import_only_from_lower_layers():
    layers = _layers()
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module(path)
        if importer == "__init__":
            continue
        for imported in _imports(path) - {importer}:
            if layers[imported] >= layers[importer]:
                wrong.append(f"{path.relative_to(REPO)} (layer {layers[importer]}) imports {imported} (layer {layers[imported]})")
    assert not wrong, "\n".join(wrong)


def test_code_cites_the_repositorys_own_documents():
    for path in [*PACKAGE.rglob("*.py"), REPO / "README.md", REPO / ".gitignore"]:
        assert "DESIGN.md" not in path.read_text(encoding="utf-8"), f"{path} cites a document outside the repository"
