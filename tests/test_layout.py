"""The layout of the repository keeps its promises: no import cycle, small modules, true paths in comments.

- No import cycle among svd's modules, counting imports inside functions: the
  graph is read from the source (ast), not from what one run happens to import.
  A module importing its own package (`from svd.jobs import locks` inside
  svd/jobs/) is not an edge: Python runs the package's `__init__` first.
- No module of svd/ over MAX_LINES lines.
- The top of svd/ is the paper's table of contents: at most MAX_TOP_MODULES
  modules besides `__init__` and `__main__`, and none of them (nor the small
  utilities of svd/util/, the fast paths, the corpus maker or the benchmarks)
  imports the program around them: the command line, its reports and pictures
  (svd/cli/) or the job machinery (svd/jobs/). Only `__main__` (`python -m svd`)
  starts the command line.
- Every repository path named in a comment or string of the code (svd/,
  kernels/, tests/, run.py, .ci/) or in the README and BENCHMARKS exists.
"""
import ast
import pathlib
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_LINES = 500
MAX_TOP_MODULES = 23  # 22, and since then network2016.py: the cap grows by a concept, never by a helper
PROGRAM = ("svd.cli", "svd.jobs")  # the packages around the concepts, which only they and svd.__main__ import


def module_name(path):
    """'svd.jobs.shards' for svd/jobs/shards.py, 'svd.jobs' for svd/jobs/__init__.py."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def svd_modules():
    """{module name: path} of every Python module of the package."""
    return {module_name(path): path for path in sorted((ROOT / "svd").rglob("*.py"))}


def imported(name, path, modules):
    """The svd modules that module `name` (at `path`) imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from svd import train`
    own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {module for module in found if module in modules and module != name and module not in own_packages}


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan), each a sorted list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_counting_imports_inside_functions():
    modules = svd_modules()
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert graph["svd.train"] >= {"svd.batches", "svd.network"}  # the graph sees imports at all
    assert cycles(graph) == []


def in_package(module, package):
    """Whether `module` is `package` or one of its modules: in_package('svd.cli.plot', 'svd.cli')."""
    return module == package or module.startswith(package + ".")


def test_in_package_reads_dotted_names():
    assert in_package("svd.cli", "svd.cli") and in_package("svd.cli.plot", "svd.cli")
    assert not in_package("svd.client", "svd.cli") and not in_package("svd", "svd.cli")


def test_the_top_of_svd_holds_the_concepts_only():
    top = sorted(path.stem for path in (ROOT / "svd").glob("*.py") if path.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_nothing_outside_the_program_imports_the_command_line_or_the_jobs():
    modules = svd_modules()
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert "svd.jobs.detection" in graph["svd.cli.commands"]  # the graph sees imports of the program at all
    outside = [name for name in graph if name != "svd.__main__" and not any(in_package(name, p) for p in PROGRAM)]
    assert "svd.train" in outside and "svd.util.locks" in outside and "svd" in outside
    reaching_in = {name: sorted(m for m in graph[name] if any(in_package(m, p) for p in PROGRAM)) for name in outside}
    assert {name: found for name, found in reaching_in.items() if found} == {}


def test_no_module_over_the_size_limit():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in svd_modules().items()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


# A repository path: a top-level folder of the project and at least one more part,
# or one of the top-level files. Patterns (kernels/*.cu, kernels/<family>.cu) are not paths.
PATH = re.compile(r"(?<![\w./-])((?:svd|kernels|tests|\.ci)/[\w.\-/]*[\w]|run\.py|README\.md|BENCHMARKS\.md"
                  r"|requirements\.txt)(?![\w*<{])")
# Named on purpose although absent: files the code makes at run time, and the folder
# an installed package has its kernels in (pyproject.toml).
MADE_AT_RUN_TIME = {"tests/gpu/wheels", "svd/kernels"}


def commented_text(path):
    """The comments and string literals of a Python file; the whole text of any other file."""
    if path.suffix != ".py":
        return path.read_text(encoding="utf-8")
    with open(path, "rb") as source:
        return "\n".join(token.string for token in tokenize.tokenize(source.readline)
                         if token.type in (tokenize.COMMENT, tokenize.STRING))


def named_paths(text):
    """Repository paths named in `text`, without a trailing dot or slash."""
    return {match.rstrip("./") for match in PATH.findall(text)}


def test_named_paths_reads_paths_and_skips_patterns():
    text = "see svd/layers.py, svd/jobs/. and kernels/*.cu or kernels/<family>.cu; run.py"
    assert named_paths(text) == {"svd/layers.py", "svd/jobs", "run.py"}


def test_every_path_named_in_comments_and_docs_exists():
    files = [*(ROOT / "svd").rglob("*.py"), *(ROOT / "svd").rglob("*.c"), *(ROOT / "kernels").glob("*"),
             *(ROOT / "tests").rglob("*.py"), *(ROOT / "tests").rglob("*.sh"), ROOT / "run.py",
             ROOT / ".ci" / "run", ROOT / "README.md", ROOT / "BENCHMARKS.md", ROOT / "tests" / "accuracy" / "README.md",
             *(ROOT / "docs").glob("*.md")]
    missing = {}
    for path in files:
        for named in named_paths(commented_text(path)) - MADE_AT_RUN_TIME:
            if not (ROOT / named).exists():
                missing.setdefault(str(path.relative_to(ROOT)), []).append(named)
    assert missing == {}
