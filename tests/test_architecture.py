"""The shape of the code that docs/design.md promises: no import cycle, a
torch-free config home and policies, one owner of the run directory's paths,
and no test of a policy's name outside the policies and the config home."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rlth_runner"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules) -> set[str]:
    """rlth_runner modules that `path` imports anywhere (top level or inside a function).

    `from pkg import name` imports the module pkg.name when there is one (pkg's
    __init__ has run already: Python imports a module's packages first), else pkg."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rlth_runner")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").startswith("rlth_runner"):
                target = node.module
            else:
                continue
            found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path, modules) if m in modules and m != name} for name, path in modules.items()}


def test_no_import_cycle():
    # Every edge counts, a package's __init__ importing its own submodules too: a
    # submodule that imports its package (`from . import x`) runs that __init__.
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    # The control: two modules importing each other are reported.
    pkg = tmp_path / "rlth_runner"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    with pytest.raises(AssertionError, match="rlth_runner.a -> rlth_runner.b -> rlth_runner.a"):
        test_no_import_cycle()


def test_the_cycle_finder_sees_a_cycle_through_a_packages_init(tmp_path, monkeypatch):
    # The cycle an exemption for __init__ would hide: a function-level import in
    # a submodule leads back through its package's __init__.
    pkg = tmp_path / "rlth_runner"
    (pkg / "pkg").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import pkg\n")
    (pkg / "pkg" / "__init__.py").write_text("from .b import f\n")
    (pkg / "pkg" / "b.py").write_text("def f():\n    from ..a import g\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    with pytest.raises(AssertionError, match="rlth_runner.a -> rlth_runner.pkg -> rlth_runner.pkg.b -> rlth_runner.a"):
        test_no_import_cycle()


def test_importing_the_package_registers_no_resolver():
    # conf/'s resolvers come from entry/conf.py's register_resolvers(), called by the entry points.
    code = ("import pkgutil, importlib, rlth_runner\n"
            "from omegaconf import OmegaConf\n"
            "for m in ('rlth_runner.entry.main', 'rlth_runner.lottery.branches', 'rlth_runner.cluster.sweeps'):\n"
            "    importlib.import_module(m)\n"
            "print(' '.join(r for r in ('rlth_run_dir', 'rlth_job_dir', 'rlth_hydra_subdir') if OmegaConf.has_resolver(r)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_config_home_and_every_policy_import_without_torch():
    from rlth_runner.config import choices

    policy_modules = sorted({path.partition(":")[0] for path in choices.POLICIES.values()})
    code = (f"import sys, importlib\nfor m in {['rlth_runner.config', 'rlth_runner.record', 'rlth_runner.seeds', *policy_modules]!r}:\n"
            "    importlib.import_module(m)\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pytorch_lightning', 'lightning'))\n"
            "print(' '.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_the_entry_point_and_the_run_directory_import_without_torch():
    # rlth-run answers config errors before torch is up, and rlth-report reads run directories without it.
    code = ("import sys, importlib\n"
            "for m in ('rlth_runner.entry.main', 'rlth_runner.storage.rundir', 'rlth_runner.storage.scan'):\n"
            "    importlib.import_module(m)\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pytorch_lightning', 'lightning'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_every_policy_in_the_choices_is_a_policy():
    from rlth_runner.config import choices
    from rlth_runner.lottery.policies import Policy

    for name in choices.POLICIES:
        cls = choices.resolve(choices.POLICIES, name, "policy")
        assert issubclass(cls, Policy) and cls.__module__ == f"rlth_runner.lottery.policies.{name}"


# A path joined inside a run directory (`root / "rounds"`), or a file name of one, Hydra's copies of the config included.
RUN_DIR_NAMES = re.compile(r"""/\s*f?["'](rounds|round_|tensorboard|verification)|["'][\w.-]*\.(pt|json)["']"""
                           r"""|["']\.hydra\b|["'](config|hydra|overrides|multirun)\.yaml["']""")


def test_only_the_layout_names_the_files_of_a_run_directory():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).as_posix() == "storage/layout.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if RUN_DIR_NAMES.search(code) and not code.strip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_no_policy_name_is_tested_outside_the_policies_and_the_config_home():
    pattern = re.compile(r"""policy\.name|== .grow.|"grow\"""")
    offenders = [f"{p.relative_to(PACKAGE)}:{n}" for p in PACKAGE.rglob("*.py") if p.parent.name not in ("policies", "config")
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders


def test_readme_lists_exactly_the_round_record_keys():
    from rlth_runner.record import RoundRecord

    readme = (PACKAGE.parents[1] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `summary.json` |"))
    listed = re.findall(r"`(\w+)`", row.partition("one record per round")[2].partition(". A key")[0])
    assert listed == RoundRecord.keys()
