"""Debian packages a test needs (Chromium, nginx), installed when missing and we may."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

POLICY = Path("/usr/sbin/policy-rc.d")  # Debian asks it before starting an installed service
LOCK = Path(tempfile.gettempdir()) / "tests-apt-get.lock"  # one installer at a time


def install_missing(packages: Mapping[str, Path]) -> None:
    """Install each package (name: a file it installs) whose file is missing, with apt-get as
    root; skip the test when that cannot be done here."""
    missing = [name for name, path in packages.items() if not path.exists()]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{', '.join(missing)} missing and cannot be installed here (root, apt-get)")
    with LOCK.open("w") as lock:  # another worker may be installing them (apt's own lock)
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [name for name, path in packages.items() if not path.exists()]
        if missing:
            _install(missing)


def _install(missing: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = POLICY if not POLICY.exists() else None  # no service starts (nginx on port 80)
    if policy is not None:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)  # noqa: S607
        subprocess.run(  # noqa: S603 - package names from the callers' tables
            ["apt-get", "install", "-y", "-qq", *missing],  # noqa: S607
            env=env,
            check=True,
            timeout=900,
        )
    finally:
        if policy is not None:
            policy.unlink(missing_ok=True)
