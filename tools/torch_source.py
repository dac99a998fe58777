"""Which pip arguments install the right torch build on this machine (used by the Makefile).

Decision (printed as extra ``pip install`` arguments on stdout, the reason on stderr):

1. a working ``nvidia-smi`` (an NVIDIA GPU): no extra arguments — the default index's torch wheel
   is the CUDA build, which is what a GPU machine wants;
2. otherwise, if pip's own configuration (``pip.conf``, ``PIP_*``: a local wheel directory or
   index, as on our machines) already resolves ``torch==VERSION`` to a CPU build (``+cpu``), no
   extra arguments — this works offline;
3. otherwise ``--extra-index-url https://download.pytorch.org/whl/cpu``: the CPU wheel
   ``VERSION+cpu`` sorts above the default index's CUDA wheel, so no nvidia/triton packages come.

Only the standard library is used, so it runs in a bare venv before anything is installed.
    python tools/torch_source.py [--torch torch==2.13.0] [--explain] [--check]

``--check`` resolves the full install (dependencies included) with those arguments by
``pip install --dry-run --report`` and fails if any CUDA package (nvidia-*, triton) would come on a
machine without a GPU: the set-up proof run by ``make check-setup`` and CI, offline where pip's
configuration provides the wheels.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu() -> bool:
    """True when ``nvidia-smi`` exists and lists at least one GPU."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def configured_resolution(requirement: str, python: str = sys.executable) -> str | None:
    """The torch version pip's configuration resolves ``requirement`` to (``pip install --dry-run
    --report``, no dependencies, nothing installed), or None when it cannot resolve it."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps"]
        cmd += ["--report", report, requirement]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0 or not os.path.exists(report):
            return None
        with open(report, encoding="utf-8") as fh:
            data = json.load(fh)
    for item in data.get("install", []):
        if item.get("metadata", {}).get("name", "").lower() == "torch":
            return str(item["metadata"]["version"])
    return None


CUDA_PREFIXES = ("nvidia-", "nvidia_", "triton", "cuda-", "cuda_")


def resolve_install(requirement: str, extra: list[str], python: str = sys.executable) -> list[tuple[str, str]]:
    """``[(name, version)]`` pip would install for ``requirement`` with ``extra`` arguments (dry run,
    dependencies included); raises RuntimeError with pip's message when it cannot resolve."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--report", report]
        proc = subprocess.run([*cmd, *extra, requirement], capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            raise RuntimeError(f"pip could not resolve {requirement}: {proc.stderr.strip()[-400:]}")
        with open(report, encoding="utf-8") as fh:
            data = json.load(fh)
    return [(i["metadata"]["name"], i["metadata"]["version"]) for i in data.get("install", [])]


def cuda_packages(installs: list[tuple[str, str]]) -> list[str]:
    """Names among ``installs`` that belong to a CUDA build (nvidia-*, triton, cuda-*), and a torch without +cpu."""
    bad = [n for n, _ in installs if n.lower().startswith(CUDA_PREFIXES)]
    bad += [f"{n}=={v}" for n, v in installs if n.lower() == "torch" and "+cu" in v]
    return bad


def decide(gpu: bool, configured_version: str | None) -> tuple[list[str], str]:
    """``(extra pip arguments, reason)`` from the two facts above (pure, unit-tested)."""
    if gpu:
        return [], "NVIDIA GPU found (nvidia-smi): installing torch from the default index (CUDA build)"
    if configured_version is not None and configured_version.endswith("+cpu"):
        return [], f"pip's configuration provides the CPU build torch {configured_version} (local wheel or index)"
    found = "nothing" if configured_version is None else f"torch {configured_version}"
    return ["--extra-index-url", CPU_INDEX], f"no GPU and pip's configuration gives {found}: adding the CPU index"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", default="torch==2.13.0", help="torch requirement (default torch==2.13.0)")
    parser.add_argument("--explain", action="store_true", help="print the reason on stderr")
    parser.add_argument("--check", action="store_true", help="dry-run the full install, fail on CUDA packages")
    args = parser.parse_args(argv)
    gpu = has_nvidia_gpu()
    extra, reason = decide(gpu, None if gpu else configured_resolution(args.torch))
    if args.explain or args.check:
        print(f"torch: {reason}", file=sys.stderr)
    if not args.check:
        print(" ".join(extra))
        return 0
    installs = resolve_install(args.torch, extra)
    shown = ", ".join(f"{n}=={v}" for n, v in installs)
    bad = [] if gpu else cuda_packages(installs)
    if bad:
        print(
            f"torch set-up check FAILED: a CPU machine would get {', '.join(bad)} (resolved: {shown})", file=sys.stderr
        )
        return 1
    print(f"torch set-up check passed ({'GPU' if gpu else 'CPU'} machine): pip would install {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
