"""``tools/mutants.py``, the driver of ``make mutants`` (mutmut itself runs only there).

Aspects: the configuration names existing modules and test files and unique groups; equivalent
entries need all three fields; each workspace's mutmut section restricts mutation and tests to its
group; a mutant's diff is placed on the right line of its file, for functions and methods; the
score excludes equivalent mutants and the table flags modules below the threshold.
"""
from __future__ import annotations

import pathlib
import textwrap

import pytest

from tools import mutants

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_group_names_existing_modules_and_test_files() -> None:
    threshold, groups = mutants.load_groups()
    assert threshold == 0.9
    assert len({g.name for g in groups}) == len(groups)
    for group in groups:
        assert mutants.module_files(group), group.name
        for test in group.tests:
            assert (ROOT / test).is_file(), f"{group.name}: {test}"


def test_repeated_group_names_are_refused(tmp_path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[[group]]\nname = "a"\nmodules = []\ntests = []\n[[group]]\nname = "a"\nmodules = []\ntests = []\n')
    with pytest.raises(SystemExit, match="group names must be unique; repeated: a"):
        mutants.load_groups(path)


def test_an_equivalent_entry_needs_mutant_mutated_line_and_reason(tmp_path) -> None:
    path = tmp_path / "e.toml"
    path.write_text('[[equivalent]]\nmutant = "m.x_f__mutmut_1"\nmutated = "x = 1"\n')
    with pytest.raises(SystemExit, match="entry 1 lacks reason"):
        mutants.load_equivalents(path)
    path.write_text('[[equivalent]]\nmutant = "m.x_f__mutmut_1"\nmutated = " x = 1 "\nreason = "same"\n')
    assert mutants.load_equivalents(path) == {"m.x_f__mutmut_1": mutants.Equivalent("m.x_f__mutmut_1", "x = 1", "same")}
    assert mutants.load_equivalents(tmp_path / "absent.toml") == {}


def test_an_equivalent_mutant_that_removes_a_line_is_listed_with_an_empty_mutated_line(tmp_path) -> None:
    path = tmp_path / "e.toml"
    path.write_text('[[equivalent]]\nmutant = "m.x_f__mutmut_2"\nmutated = ""\nreason = "overwritten below"\n')
    assert mutants.load_equivalents(path) == {"m.x_f__mutmut_2": mutants.Equivalent("m.x_f__mutmut_2", "",
                                                                                    "overwritten below")}
    path.write_text('[[equivalent]]\nmutant = "m.x_f__mutmut_2"\nreason = "overwritten below"\n')
    with pytest.raises(SystemExit, match="entry 1 lacks mutated"):
        mutants.load_equivalents(path)


def test_the_shipped_equivalent_list_parses() -> None:
    for key, entry in mutants.load_equivalents().items():
        assert "__mutmut_" in key and entry.reason


def test_a_workspace_mutates_only_its_modules_and_selects_only_its_tests() -> None:
    group = mutants.Group(name="g", modules=("analysis/formulas/queueing.py",), tests=("tests/analysis/test_queueing.py",))
    section = mutants.mutmut_section(group, mutants.module_files(group))
    assert 'source_paths = ["analysis"]' in section
    assert 'only_mutate = ["analysis/formulas/queueing.py"]' in section
    assert 'pytest_add_cli_args_test_selection = ["tests/analysis/test_queueing.py"]' in section
    assert '"analysis"' not in section.split("also_copy = ")[1].splitlines()[0]


def test_function_names_come_from_mutant_keys() -> None:
    assert mutants.function_of("analysis.formulas.queueing.x_erlang_b__mutmut_17") == "x_erlang_b"
    assert mutants.function_of("controllers.hpa.api.xǁPodǁready__mutmut_2") == "xǁPodǁready"


SOURCE = textwrap.dedent('''\
    import math


    def area(r):
        # the disc
        return math.pi * r * r


    class Box:
        def volume(self, a):
            b = a * a
            return b * a
    ''')


def test_def_line_finds_functions_and_methods() -> None:
    assert mutants.def_line(SOURCE, "m.x_area__mutmut_1") == 4
    assert mutants.def_line(SOURCE, "m.xǁBoxǁvolume__mutmut_3") == 10
    assert mutants.def_line(SOURCE, "m.x_missing__mutmut_1") == 0


def test_a_diff_is_placed_on_the_line_it_changes() -> None:
    function = "def volume(self, a):\n    b = a * a\n    return b * a"
    diff = "--- f\n+++ f\n@@ -1,3 +1,3 @@\n def volume(self, a):\n     b = a * a\n-    return b * a\n+    return b / a"
    assert mutants.locate(diff, function, 10) == (12, "return b * a", "return b / a")
    # comments above the def belong to the function in mutmut's rendering
    function = "# the disc\ndef area(r):\n    return math.pi * r * r"
    diff = "--- f\n+++ f\n@@ -1,3 +1,3 @@\n # the disc\n def area(r):\n-    return math.pi * r * r\n+    return math.pi / r * r"
    assert mutants.locate(diff, function, 4) == (5, "return math.pi * r * r", "return math.pi / r * r")


def test_a_removed_argument_line_is_reported_with_an_empty_replacement() -> None:
    function = "def f(\n    a,\n    b,\n):\n    return g(\n        a,\n        b,\n    )"
    diff = "--- f\n+++ f\n@@ -5,4 +5,3 @@\n     return g(\n         a,\n-        b,\n     )"
    assert mutants.locate(diff, function, 20) == (26, "b,", "")


def test_the_score_leaves_equivalent_mutants_out_and_the_table_flags_low_modules() -> None:
    good = mutants.ModuleScore(module="a.py", total=10, detected=9, equivalent=1)
    low = mutants.ModuleScore(module="b.py", total=10, detected=8,
                              undetected=[mutants.Mutant("b.x_f__mutmut_1", "b.py", "survived")] * 2)
    empty = mutants.ModuleScore(module="c.py")
    assert (good.score, low.score, empty.score) == (1.0, 0.8, 1.0)
    table = mutants.render_table([good, low], 0.9).splitlines()
    assert table[1].split() == ["a.py", "10", "9", "0", "1", "100.0%"]
    assert table[2].split() == ["b.py", "10", "8", "2", "0", "80.0%", "<", "threshold"]
    assert table[3].split() == ["all", "20", "17", "2", "1", "89.5%"]
