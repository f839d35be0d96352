"""The package layout: library modules never import a command module, and a plain (non-editable) install works.

Commands are the ``python -m ecct.<name>`` entry points: thin Hydra/argparse mains that call the library. A
library module that imported one would pull a command's argument handling (and Hydra's decorator) into every
caller, which is what the stage folders (runs/, training/, decoding/, output/, inference/) exist to prevent.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from ecct.data.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "ecct"
COMMANDS = frozenset(
    {
        "ecct.train",
        "ecct.predict",
        "ecct.merge",
        "ecct.score",
        "ecct.evaluate",
        "ecct.report",
        "ecct.archive",
        "ecct.data.__main__",
        "ecct.augment.__main__",
        "ecct.baseline.__main__",
    }
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every ecct module ``path`` imports, at any depth of the file (lazy imports in functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # from ecct import train
    return {name for name in found if name == "ecct" or name.startswith("ecct.")}


def library_modules() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if "conf" not in p.relative_to(PACKAGE).parts]
    return sorted(p for p in files if module_name(p) not in COMMANDS)


def test_every_command_exists() -> None:
    for command in COMMANDS:
        path = REPO_ROOT / Path(*command.split("."))
        assert path.with_suffix(".py").is_file(), command


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: module_name(p))
def test_no_library_module_imports_a_command(path: Path) -> None:
    commands = imported_modules(path) & COMMANDS
    # ``import ecct.baseline`` is the package, not its __main__; only an explicit __main__ import counts.
    assert not commands, f"{module_name(path)} imports the command module(s) {sorted(commands)}"


def test_the_walk_sees_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from ecct.predict import main\n    from ecct import train\n", encoding="utf-8")
    assert {"ecct.predict", "ecct.train"} <= imported_modules(sample)


def _installed_venv(root: Path) -> Path:
    """A fresh venv with ecct installed from a copy of the sources, non-editable, without touching the checkout.

    The dependencies (torch, transformers, ...) are not installed again: the venv sees the test interpreter's
    site-packages through a .pth line (a copy would take GBs and minutes; ``--system-site-packages`` would only
    reach the base interpreter's packages, not this venv's). That path adds no editable finder, because a .pth
    line only extends sys.path, so ``import ecct`` can only find the wheel's copy in the new venv.
    """
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "ecct", source / "ecct", symlinks=True, ignore=ignore)
    shutil.copytree(REPO_ROOT / "conf", source / "conf", ignore=ignore)
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (Path(site) / "ecct_test_dependencies.pth").write_text("\n".join(ours) + "\n", encoding="utf-8")
    # The new venv's own interpreter runs pip (found through the .pth), so ecct and its script land in the new venv.
    install = [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    done = subprocess.run([*install, str(source)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return env_dir


def test_a_non_editable_install_runs_from_any_folder(tmp_path: Path) -> None:
    """``pip install .`` (not -e): conf/ ships inside the package, so the commands work away from the checkout."""
    env_dir = _installed_venv(tmp_path)
    python = env_dir / "bin" / "python"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env |= {"WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    where = subprocess.run(
        [str(python), "-c", "import ecct; print(ecct.__file__); print(ecct.CONF_DIR.is_dir())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(env_dir)) and where[1] == "True", where  # the installed copy, with its conf/
    assert not (Path(where[0]).parent / "conf").is_symlink()  # the configs themselves, not a link to the checkout
    script = env_dir / "bin" / "ecct-extract"
    shown = subprocess.run(
        [str(python), str(script), "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert shown.returncode == 0, shown.stderr
    assert "adapter" in shown.stdout  # Hydra's help lists conf/predict.yaml's keys
    trained = subprocess.run(
        [str(python), "-m", "ecct.train", "+experiment=smoke", "hydra.run.dir=run"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert trained.returncode == 0, trained.stderr[-4000:]
    assert (work / "run" / "metrics.json").is_file()
