"""The docs point at what exists: the README's folder table is the tree, and every path a doc or a
docstring names is a file or folder of this repository (a renamed module leaves no stale pointer)."""
from __future__ import annotations

import functools
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Paths that look like ours but name something else: another project's files, a kubectl resource.
FOREIGN = {
    "docs/source/performance.md": "TensorRT-LLM's repository, cited as a calibration source",
    "docs/source/performance/perf-overview.md": "TensorRT-LLM's repository, cited as a calibration source",
    "deploy/prometheus-adapter": "kubectl's deploy/NAME, the adapter's Deployment",
}


@functools.cache
def tracked_files() -> tuple[str, ...]:
    return tuple(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split())


def top_folders() -> set[str]:
    return {path.split("/")[0] for path in tracked_files() if "/" in path and not path.startswith(".")}


@functools.cache
def reference_pattern(folders: frozenset[str]) -> re.Pattern:
    return re.compile(r"(?<![\w./<-])((?:%s)/[\w./-]*\w)" % "|".join(sorted(folders)))


def path_references(text: str, folders: set[str]) -> set[str]:
    """Repository paths in a text: a top folder, a slash, then a name (placeholders like <name> excluded)."""
    return {match.group(1) for match in reference_pattern(frozenset(folders)).finditer(text)}


def resolves(reference: str) -> bool:
    if (ROOT / reference).exists():
        return True
    module, _, _attribute = reference.rpartition(".")       # controllers/kube.Kube: a module's member
    return bool(module) and (ROOT / f"{module}.py").exists()


def documents() -> list[str]:
    """README, docs/ and every docstring and comment of the shipped code (tests hold made-up paths)."""
    return [path for path in tracked_files()
            if path == "README.md" or (path.startswith("docs/") and path.endswith(".md"))
            or (path.endswith(".py") and not path.startswith("tests/"))]


def test_every_path_a_doc_or_docstring_names_exists():
    folders = top_folders()
    stale = {f"{document}: {reference}"
             for document in documents()
             for reference in path_references((ROOT / document).read_text(), folders)
             if reference not in FOREIGN and not resolves(reference)}
    assert not stale, "references to paths that do not exist:\n" + "\n".join(sorted(stale))


def test_the_reference_finder_sees_a_stale_path_and_a_module_member():
    folders = {"analysis", "controllers"}
    text = "see `analysis/tables/lagtimeline.py`, controllers/kube.Kube and analysis/gone.py; not x/analysis/y.py"
    assert path_references(text, folders) == {"analysis/tables/lagtimeline.py", "controllers/kube.Kube",
                                              "analysis/gone.py"}
    assert resolves("controllers/kube.Kube") and resolves("analysis/tables/lagtimeline.py")
    assert not resolves("analysis/gone.py")


def readme_folders() -> set[str]:
    section = (ROOT / "README.md").read_text().split("## Where things live", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {folder.rstrip("/") for row in rows for folder in re.findall(r"`([^`]+/)`", row)}


def test_the_readmes_folder_table_is_the_tree():
    listed = readme_folders()
    assert all((ROOT / folder).is_dir() for folder in listed), sorted(f for f in listed if not (ROOT / f).is_dir())
    assert top_folders() <= {folder.split("/")[0] for folder in listed}, \
        f"top folders missing from the README's table: {sorted(top_folders() - {f.split('/')[0] for f in listed})}"
