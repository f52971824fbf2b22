"""The installable package (pyproject.toml): what can be checked without installing it.

- pyproject.toml parses; its console script `svd` names a callable; its version is svd.__version__.
- Its package list holds every package of svd/, and its package-data globs match every
  kernel source (kernels/<family>.cu of each family, kernels/emulate.h) and every C file
  of the fast CPU path, so an installed package has them.
- An installed layout (the package with its kernels in svd/kernels/) finds its kernels there.
- `python -m svd --version` and `run.py --version` print the version; usage lines name
  the program as it was called.
- A wheel built from a copy of the sources holds the kernels and the C files (skipped
  where setuptools is missing or too old; it needs no network).
"""
import fnmatch
import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

import svd
from svd.cuda import launch
from svd.fast import build

ROOT = pathlib.Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


@pytest.fixture(scope="module")
def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def test_the_console_script_names_a_callable(pyproject):
    module, _, function = pyproject["project"]["scripts"]["svd"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_version_is_read_from_the_package(pyproject):
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "svd.__version__"}
    assert svd.__version__.count(".") == 2


def test_the_dependencies_are_the_cpu_requirements(pyproject):
    """requirements.txt also lists matplotlib and pytest (a clone's tests), which the package makes extras."""
    listed = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    listed = [line for line in listed if line]
    extras = pyproject["project"]["optional-dependencies"]
    pytest_ = [requirement for requirement in extras["test"] if requirement.startswith("pytest")]
    assert sorted(pyproject["project"]["dependencies"] + extras["plot"] + pytest_) == sorted(listed)
    assert "cupy" not in " ".join(pyproject["project"]["dependencies"])  # never in the CPU install


def test_every_package_of_svd_is_listed(pyproject):
    packages = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "svd").rglob("__init__.py")}
    assert set(pyproject["tool"]["setuptools"]["packages"]) == packages | {"svd.kernels"}


def packaged(pyproject, package, folder):
    """Names of the files of `folder` (relative to the repository) that package-data installs in `package`."""
    patterns = pyproject["tool"]["setuptools"]["package-data"][package]
    return {path.name for path in (ROOT / folder).iterdir() if any(fnmatch.fnmatch(path.name, p) for p in patterns)}


def test_every_kernel_source_and_c_file_is_package_data(pyproject):
    assert pyproject["tool"]["setuptools"]["package-dir"]["svd.kernels"] == "kernels"
    kernels = packaged(pyproject, "svd.kernels", "kernels")
    assert {f"{family}.cu" for family in launch.FAMILIES} | {"emulate.h"} <= kernels
    assert {path.name for path in (ROOT / "kernels").iterdir()} == kernels  # nothing left behind
    c_files = packaged(pyproject, "svd.fast", "svd/fast")
    assert {source.name for source in build.SOURCES} <= c_files
    assert {path.name for path in (ROOT / "svd" / "fast").glob("*.c")} == c_files


def test_an_installed_layout_finds_its_kernels_in_the_package(tmp_path):
    """A copy of the package with its kernels in svd/kernels/, as pip installs it, outside the repository."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "svd", site / "svd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "kernels", site / "svd" / "kernels")
    code = "from svd.cuda import launch; print(launch.KERNEL_DIR); print(launch.kernel_source('conv')[:200])"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    folder, source = result.stdout.split("\n", 1)
    assert pathlib.Path(folder) == site / "svd" / "kernels"
    assert '#include "emulate.h"' not in source and source.strip()


@pytest.mark.parametrize("program, name", [(["-m", "svd"], "python -m svd"), ([str(ROOT / "run.py")], "run.py")])
def test_version_and_usage_name_the_program(program, name, tmp_path):
    result = subprocess.run([sys.executable, *program, "--version"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.startswith(f"svd {svd.__version__}"), result.stderr
    assert result.stdout.count("\n") == 1
    result = subprocess.run([sys.executable, *program, "synth", "--clips", "x"], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and result.stderr.startswith(f"usage: {name} synth "), result.stderr


def test_a_wheel_holds_the_kernels_the_c_files_and_the_bundled_model(tmp_path):
    """Built offline from a copy of the sources (a build in the clone would leave build/ and *.egg-info there)."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} is older than pyproject.toml's build requirement (77)")
    source = tmp_path / "source"
    shutil.copytree(ROOT / "svd", source / "svd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "kernels", source / "kernels")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                             "--quiet", "--wheel-dir", str(tmp_path / "wheels"), str(source)],
                            capture_output=True, text=True)
    if result.returncode != 0 and "No module named pip" in result.stderr:
        pytest.skip("no pip")
    assert result.returncode == 0, result.stderr
    wheel, = (tmp_path / "wheels").glob("svd_detector-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    kernel_files = [f"{family}.cu" for family in launch.FAMILIES] + ["emulate.h"]
    assert {f"svd/kernels/{name}" for name in kernel_files} <= names
    assert {f"svd/fast/{path.name}" for path in build.SOURCES} <= names
    assert "svd/models/bundled.npz" in names  # `svd detect song.mp3` needs no clone
    assert {"svd/__main__.py", "svd/cli/options.py", "svd/util/errors.py"} <= names
    assert not any(name.startswith("tests/") for name in names)
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "svd = svd.cli.entry:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_help_loads_no_command_code_and_no_cupy(tmp_path):
    """`svd --help` and option errors answer quickly (BENCHMARKS.md, "Start-up"): the parser loads neither
    svd/cli/commands.py (with SciPy and every implementation) nor CuPy, here a stand-in that would take a
    second to import."""
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text("import time\ntime.sleep(1)\n")
    code = ("import sys; from svd.cli import options; options.build_parser().format_help(); "
            "print(sorted(m for m in ('cupy', 'scipy', 'svd.cli.commands', 'svd.fast') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"})
    assert result.returncode == 0 and result.stdout == "[]\n", result.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`svd cache | head -1`: the pipe closes before svd writes; it ends quietly with exit code 1."""
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "cache"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # before the interpreter has even started
    err = process.stderr.read()
    assert process.wait() == 1 and err == "", err
