"""The one-command check of svd's CUDA path on a GPU machine, for a time-limited job (tests/gpu/run.sh runs this).

    python3 tests/gpu/check.py --out DIR [--work DIR] [--wheels DIR] [--deadline-s S] [--only STEPS]
    python3 tests/gpu/check.py --dry-run --out DIR ...     # on any CPU: the step logic, no GPU

Made for a GPU job with a short time limit (say 7 minutes) whose results are a few
files copied back from one output folder. So:

- everything is done under a work folder outside the output folder (default
  /tmp/svd-gpu-check); --out DIR receives at most four files: summary.json (every
  step's status, time and, on failure, its log's last lines; the figures),
  logs.tar.gz (every log, eval JSON and test report), bench-gpu.json and
  profile-gpu.json when those steps ran;
- a machine without soundfile (nor cffi) gets its wheels installed from
  --wheels (default tests/gpu/wheels, which must be carried: it is gitignored)
  into a private folder; without them the check stops at once;
- the steps run in order, each with its own time limit, under an overall
  deadline (default 360 s, so a 420 s call leaves time to pack); a step that
  would start too close to the deadline is not run, and counts as a failure;
- "gpu-present" and the 3-update "smoke" come first: if either fails,
  nothing else runs (a broken CUDA path would only burn the time);
- a GPU test that is skipped (no CuPy, no device) counts as a failure: the
  test reports are read, not just the exit code;
- no CPU-only test runs here (the emulated kernels, the PyTorch parity, the
  trusted reference: CI runs those).

Steps (STEPS below), in the order of what a job cut short should still
deliver: wheels, gpu-present, smoke, gpu-tests, profile-gpu (where an
update's time goes), synth, train-augment (300 augmented updates),
train-repeat (the same run again), reproducible (the two models equal bit for
bit: README's claim), eval-gpu (stores the threshold detect uses),
eval-tta-gpu, bench-gpu (--quick: medians of 3), eval-cpu (the same model on
the CPU, for comparison), detect-gpu. --only runs the named steps (and the first three,
which guard everything); a step whose input another step makes says so
instead of running without it.

--dry-run runs the same steps on the CPU, with this interpreter for python3:
the smoke step through the kernel emulator (tests/kernel_emulation), the
command-line steps with --device cpu and tiny sizes, stand-ins for the GPU
tests, the bench and the profile. It
proves the step logic and the file count (tests/test_gpu_check.py, in CI).
--inject STEP=fail|hang|skip|pass (dry run only) makes a step fail, outlast its
time limit, report a skipped test (a test step), or pass at once, for those tests.
Exit code 0 when every step that was asked for passed, else 1.
"""
import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ElementTree

ROOT = pathlib.Path(__file__).resolve().parents[2]
PY = "python3"
# Steps that guard all the others: when one fails, nothing after it runs.
GUARDS = ("wheels", "gpu-present", "smoke")
# Seconds kept back from the deadline for packing the results.
PACKING_S = 10
# A step is not started with fewer seconds than this left before the deadline.
MIN_STEP_S = 15
GPU_TESTS = ["tests/test_kernels_gpu.py", "tests/test_gpu_parity.py",
             "tests/test_device.py::test_auto_picks_the_gpu_when_there_is_one",
             "tests/test_backend.py::test_cupy_arrays_get_the_cuda_path"]


@dataclasses.dataclass
class Step:
    """One step: its command on a GPU and in the dry run, its time limit, what it needs.

    command / dry: argument lists, with {work} and {out} replaced by the folders;
    junit: the step is a pytest run whose report (work/junit-NAME.xml) is read
    for skipped tests; needs: steps whose outputs this one uses.
    """
    name: str
    timeout_s: int
    command: list
    dry: list
    needs: tuple = ()
    junit: bool = False


def _train(out, device, updates, batch, seed):
    return [PY, "run.py", "train", "--data", "{work}/corpus", "--augment", "--updates", str(updates),
            "--batch", str(batch), "--seed", str(seed), "--device", device, "--out", out,
            "--cache", "{work}/cache", "--checkpoint-every", str(max(1, updates // 3)), "--quiet"]


def _eval(device, json_name, *extra):
    return [PY, "run.py", "eval", "{work}/model-a.npz", "--data", "{work}/corpus", "--device", device,
            "--cache", "{work}/cache", "--json", f"{{work}}/{json_name}", "--quiet", *extra]


def _pytest(name, tests):
    return [PY, "-m", "pytest", "-q", "-rs", "--maxfail=5", "-p", "no:cacheprovider",
            f"--junitxml={{work}}/junit-{name}.xml", *tests]


def _stand_in(path, text):
    """A dry-run command that writes `text` to `path` (the GPU-only steps' outputs)."""
    return [PY, "-c", f"import pathlib; pathlib.Path({path!r}).write_text({text!r})"]


STEPS = [  # in order of what a cut-short window should still deliver
    Step("wheels", 60, [], []),  # done in-process: install_wheels
    Step("gpu-present", 60,
         [PY, "-c", "from svd import device; import sys; r = device.why_no_gpu(); "
                    "print(r or device.select('gpu').name); sys.exit(1 if r else 0)"],
         [PY, "-c", "import numpy; print('dry run: numpy', numpy.__version__)"]),
    Step("smoke", 120, [PY, "tests/gpu/smoke.py"], [PY, "tests/gpu/smoke.py", "--emulate", "--batch", "1"]),
    Step("gpu-tests", 180, _pytest("gpu-tests", GPU_TESTS),
         _pytest("gpu-tests", ["tests/test_kernels_emulated.py::test_kernel_names_are_unique",
                               "tests/test_kernels_emulated.py::test_hash_uniform_is_uniform"]), junit=True),
    Step("profile-gpu", 90, [PY, "tests/gpu/profile_update.py", "--json", "{out}/profile-gpu.json"],
         _stand_in("{out}/profile-gpu.json", '{"dry_run": true}\n')),
    Step("synth", 60, [PY, "run.py", "synth", "--out-dir", "{work}/corpus", "--clips", "12", "--seconds", "20",
                       "--quiet"],
         [PY, "run.py", "synth", "--out-dir", "{work}/corpus", "--clips", "6", "--seconds", "4", "--quiet"]),
    Step("train-augment", 90, _train("{work}/model-a.npz", "gpu", 300, 32, 1),
         _train("{work}/model-a.npz", "cpu", 2, 2, 1), needs=("synth",)),
    Step("train-repeat", 90, _train("{work}/model-b.npz", "gpu", 300, 32, 1),
         _train("{work}/model-b.npz", "cpu", 2, 2, 1), needs=("synth",)),
    Step("reproducible", 30, [PY, "tests/gpu/same_model.py", "{work}/model-a.npz", "{work}/model-b.npz"],
         [PY, "tests/gpu/same_model.py", "{work}/model-a.npz", "{work}/model-b.npz"],
         needs=("train-augment", "train-repeat")),
    Step("eval-gpu", 60, _eval("gpu", "eval-gpu.json"), _eval("cpu", "eval-gpu.json"), needs=("train-augment",)),
    Step("eval-tta-gpu", 90, _eval("gpu", "eval-tta-gpu.json", "--tta", "--no-store-threshold"),
         _eval("cpu", "eval-tta-gpu.json", "--tta", "--no-store-threshold"), needs=("train-augment",)),
    Step("bench-gpu", 150, [PY, "run.py", "bench", "--device", "gpu", "--quick", "--json", "{out}/bench-gpu.json",
                            "--quiet"],
         _stand_in("{out}/bench-gpu.json", '{"dry_run": true}\n')),
    Step("eval-cpu", 60, _eval("cpu", "eval-cpu.json", "--no-store-threshold"),
         _eval("cpu", "eval-cpu.json", "--no-store-threshold"), needs=("eval-gpu",)),
    Step("detect-gpu", 60, [PY, "run.py", "detect", "{work}/model-a.npz", "{work}/corpus/audio", "--out-dir",
                            "{work}/detect", "--device", "gpu", "--jobs", "1", "--quiet"],
         _stand_in("{work}/detect.txt", "dry run"), needs=("eval-gpu",)),
]


def junit_counts(path):
    """{"tests", "failures", "errors", "skipped"} summed over a pytest JUnit report; None if unreadable."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    return {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors", "skipped")}


def test_verdict(exit_code, counts):
    """(passed, why) of a pytest step: exit code 0, at least one test, none failed or skipped."""
    if counts is None:
        return False, f"no test report (pytest exit code {exit_code})"
    if counts["skipped"]:
        return False, f"{counts['skipped']} of {counts['tests']} tests skipped (a skip is a failure here)"
    if exit_code != 0 or counts["failures"] or counts["errors"]:
        return False, f"{counts['failures']} failed, {counts['errors']} errors (exit code {exit_code})"
    if counts["tests"] == 0:
        return False, "no test ran"
    return True, f"{counts['tests']} tests passed"


def run_command(command, log_path, timeout_s, env):
    """(exit code or None on timeout, seconds): command run in its own process group, output to
    log_path; on timeout the whole group is killed (pytest's and detect's children too)."""
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    return code, time.monotonic() - started


def tail(path, lines=25):
    """The last `lines` lines of a text file (as a list)."""
    try:
        return pathlib.Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def install_wheels(wheels, site, env, dry_run, log_path):
    """(passed, why) of the wheels step: soundfile importable for the later steps.

    On the GPU machine: the wheels in `wheels` installed with pip into `site`
    (PYTHONPATH then points there); none found is a failure, at once. In the dry
    run nothing is installed: soundfile must already be there (the CPU install).
    """
    python = sys.executable if dry_run else PY
    check = [python, "-c", "import soundfile; print('soundfile', soundfile.__version__)"]
    found = sorted(pathlib.Path(wheels).glob("*.whl")) if wheels else []
    if dry_run and wheels is None:
        code, _ = run_command(check, log_path, 60, env)
        return code == 0, "dry run: soundfile of this machine" if code == 0 else "soundfile is missing"
    if not found:
        pathlib.Path(log_path).write_text(f"no *.whl in {wheels}\n", encoding="utf-8")
        return False, (f"no wheels in {wheels}: carry tests/gpu/wheels (gitignored; see tests/gpu/run.sh "
                       f"for the pip download command)")
    if dry_run:
        pathlib.Path(log_path).write_text("dry run: found " + ", ".join(p.name for p in found) + "\n")
        return True, f"dry run: {len(found)} wheels found, not installed"
    install = [PY, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
               "--target", str(site), *map(str, found)]
    code, _ = run_command(install, log_path, 60, env)
    if code != 0:
        return False, f"pip install of {len(found)} wheels failed (exit code {code})"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    code, _ = run_command(check, str(log_path) + ".import", 60, env)
    return code == 0, "installed: " + ", ".join(p.name for p in found) if code == 0 else "soundfile does not import"


def figures_of(work, results):
    """The numbers worth reading in the summary: eval errors, GPU/CPU agreement, training time."""
    figures = {}
    for name in ("eval-gpu", "eval-tta-gpu", "eval-cpu"):
        path = work / f"{name}.json"
        if path.is_file():
            table = json.loads(path.read_text(encoding="utf-8"))
            figures[name] = {split: {"error": table[split]["error"], "auroc": table[split].get("auroc")}
                             for split in ("valid", "test") if split in table}
            figures[name]["threshold"] = table.get("threshold")
    if "eval-gpu" in figures and "eval-cpu" in figures:
        figures["test_error_gpu_minus_cpu"] = (figures["eval-gpu"]["test"]["error"]
                                               - figures["eval-cpu"]["test"]["error"])
    for name in ("train-augment", "train-repeat"):
        if name in results and results[name]["status"] == "pass":
            figures[f"{name}_wall_s"] = results[name]["seconds"]
    return figures


def pack(out, work, summary):
    """Write summary.json and logs.tar.gz into `out` (the bench and profile JSON are already there)."""
    with tarfile.open(out / "logs.tar.gz", "w:gz") as archive:
        for path in sorted(work.iterdir()):
            if path.name == "logs" or path.suffix in (".json", ".xml", ".txt"):
                archive.add(path, arcname=path.name)
    summary["files"] = sorted({p.name for p in out.iterdir()} | {"summary.json"})
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "gpu-check"),
                        help="where the (at most 4) result files go (default: ./gpu-check)")
    parser.add_argument("--work", default="/tmp/svd-gpu-check", help="work folder, emptied first")
    parser.add_argument("--wheels", default=None,
                        help="folder of soundfile, cffi and pycparser wheels (default: tests/gpu/wheels; "
                             "in the dry run: none, the CPU install has soundfile)")
    parser.add_argument("--deadline-s", type=float, default=360, help="overall deadline in seconds (default 360)")
    parser.add_argument("--only", default="", help="comma-separated steps to run (the guards always run)")
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, through the kernel emulator")
    parser.add_argument("--inject", action="append", default=[], metavar="STEP=fail|hang|skip|pass",
                        help="dry run only: make STEP fail, hang past its limit, report a skipped test or pass")
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + args.deadline_s
    out, work = pathlib.Path(args.out), pathlib.Path(args.work)
    if args.inject and not args.dry_run:
        parser.error("--inject is for the dry run only")
    injected = dict(item.split("=", 1) for item in args.inject)
    wheels = args.wheels if args.wheels or args.dry_run else str(ROOT / "tests" / "gpu" / "wheels")
    only = {name for name in args.only.split(",") if name}
    unknown = only - {step.name for step in STEPS}
    if unknown:
        parser.error(f"--only: unknown steps {', '.join(sorted(unknown))}")
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SVD_CACHE_DIR": str(work / "cache")}
    results, stopped = {}, None
    for number, step in enumerate(STEPS):
        log_path = work / "logs" / f"{number:02d}-{step.name}.log"
        result = {"name": step.name, "log": f"logs/{log_path.name}", "seconds": 0.0}
        left = deadline - time.monotonic() - PACKING_S
        missing = [need for need in step.needs if results.get(need, {}).get("status") != "pass"]
        if only and step.name not in only and step.name not in GUARDS:
            result.update(status="not asked")
        elif stopped:
            result.update(status="not run", why=f"stopped: {stopped} failed")
        elif missing:
            result.update(status="not run", why=f"needs {', '.join(missing)}, which did not pass")
        elif left < MIN_STEP_S:
            result.update(status="not run", why=f"deadline: {left:.0f} s left")
        else:
            result.update(run_step(step, log_path, min(step.timeout_s, left), env, args, wheels, work, out,
                                   injected.get(step.name)))
        if result["status"] not in ("pass", "not asked", "not run"):
            result["tail"] = tail(log_path)
        results[step.name] = result
        print(f"{step.name:14} {result['status']:9} {result['seconds']:6.1f} s  {result.get('why', '')}",
              flush=True)
        if step.name in GUARDS and result["status"] != "pass":
            stopped = stopped or step.name
    failed = [r["name"] for r in results.values() if r["status"] not in ("pass", "not asked")]
    summary = {"ok": not failed, "failed": failed, "dry_run": args.dry_run, "date": time.strftime("%Y-%m-%d %H:%M"),
               "seconds": round(time.monotonic() - started, 1), "deadline_s": args.deadline_s,
               "device": results["gpu-present"].get("said", ""), "steps": list(results.values()),
               "figures": figures_of(work, results)}
    pack(out, work, summary)
    for result in results.values():
        if result.get("tail"):
            print(f"\n== {result['name']}: {result['status']} ({result.get('why', '')}); last lines of its log:")
            print("\n".join(result["tail"]))
    print(f"\n{'passed' if not failed else 'FAILED: ' + ', '.join(failed)}: "
          f"{len(list(out.iterdir()))} files in {out}, {summary['seconds']} s")
    return 0 if not failed else 1


def run_step(step, log_path, timeout_s, env, args, wheels, work, out, injection):
    """{"status": pass|fail|timeout, "why", "seconds", ...} of running one step."""
    began = time.monotonic()
    if step.name == "wheels":
        passed, why = install_wheels(wheels, work / "site", env, args.dry_run, log_path)
        return {"status": "pass" if passed else "fail", "why": why, "seconds": round(time.monotonic() - began, 1)}
    command = step.dry if args.dry_run else step.command
    if injection == "pass":
        command = [PY, "-c", "print('injected pass')"]
    elif injection == "fail":
        command = [PY, "-c", "import sys; print('injected failure'); sys.exit(3)"]
    elif injection == "hang":
        command, timeout_s = [PY, "-c", "import time; time.sleep(600)"], 2
    elif injection == "skip":
        command = _pytest(step.name, ["tests/gpu/skipped_for_the_dry_run.py"])
    command = [part.replace("{work}", str(work)).replace("{out}", str(out)) for part in command]
    if args.dry_run and command[0] == PY:
        command[0] = sys.executable  # the CPU install's interpreter (CI's python3 may be another)
    code, seconds = run_command(command, log_path, timeout_s, env)
    result = {"seconds": round(seconds, 1), "exit_code": code}
    if code is None:
        result.update(status="timeout", why=f"killed after its limit of {timeout_s:.0f} s")
    elif step.junit:
        passed, why = test_verdict(code, junit_counts(work / f"junit-{step.name}.xml"))
        result.update(status="pass" if passed else "fail", why=why)
    else:
        result.update(status="pass" if code == 0 else "fail", why="" if code == 0 else f"exit code {code}")
    if step.name == "gpu-present" and code == 0:
        result["said"] = tail(log_path, 1)[0] if tail(log_path, 1) else ""
    return result


if __name__ == "__main__":
    sys.exit(main())
