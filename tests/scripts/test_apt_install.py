"""scripts/apt-install: waits a bounded time for a held dpkg lock instead of failing at once.

apt-get is replaced by a stand-in (``APT_GET``) that reports a held lock a given number of times,
with apt's own message, so the machine's real dpkg lock is never taken from other users.
"""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "apt-install"
MISSING = "mlws-test-package-that-is-not-installed"

FAKE_APT_GET = """\
#!/usr/bin/env bash
# Fails with apt's lock message until it has been called $LOCKED_TIMES times.
echo "$*" >> "$CALLS"
count=$(wc -l < "$CALLS")
if [ "$count" -le "$LOCKED_TIMES" ]; then
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend." \
    "It is held by process 4242 (unattended-upgr)" >&2
  exit 100
fi
[ "$FAIL_WITH" = "" ] || { echo "E: $FAIL_WITH" >&2; exit 100; }
exit 0
"""


def run(
    tmp_path: Path, *args: str, locked: int, timeout: int = 30, fail: str = ""
) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "apt-get"
    fake.write_text(FAKE_APT_GET)
    fake.chmod(0o755)
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "APT_GET": str(fake),
        "CALLS": str(tmp_path / "calls"),
        "LOCKED_TIMES": str(locked),
        "FAIL_WITH": fail,
        "APT_LOCK_TIMEOUT": str(timeout),
        "APT_LOCK_POLL": "0.2",
    }
    (tmp_path / "calls").touch()
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False
    )


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def test_waits_for_a_held_lock_then_installs(tmp_path: Path) -> None:
    done = run(tmp_path, MISSING, locked=3)
    assert done.returncode == 0, done.stderr
    waits = [x for x in done.stdout.splitlines() if "waiting for the apt/dpkg lock" in x]
    assert len(waits) == 3
    assert "held by process 4242 (unattended-upgr)" in waits[0]
    assert calls(tmp_path)[-1].startswith(f"install -y -qq --no-install-recommends {MISSING}")
    assert f"installed {MISSING}" in done.stdout


def test_gives_up_after_the_timeout_saying_who_holds_the_lock(tmp_path: Path) -> None:
    done = run(tmp_path, MISSING, locked=1000, timeout=1)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("apt-install: error: an apt/dpkg lock is still held by process 4242")
    assert "APT_LOCK_TIMEOUT=1" in line


def test_update_also_waits(tmp_path: Path) -> None:
    done = run(tmp_path, "--update", MISSING, locked=2)
    assert done.returncode == 0, done.stderr
    assert [c.split()[0] for c in calls(tmp_path)] == ["update", "update", "update", "install"]


def test_other_failures_are_not_retried(tmp_path: Path) -> None:
    done = run(tmp_path, MISSING, locked=0, fail=f"Unable to locate package {MISSING}")
    assert done.returncode == 100
    assert f"E: Unable to locate package {MISSING}" in done.stderr
    assert "apt-install: error: apt-get install failed (exit 100)" in done.stderr
    assert len(calls(tmp_path)) == 1


def test_installed_packages_skip_apt(tmp_path: Path) -> None:
    done = run(tmp_path, "bash", "coreutils", locked=1000)
    assert done.returncode == 0
    assert calls(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"), [((), "no packages given"), (("-x",), "unknown option -x")]
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = run(tmp_path, *args, locked=0)
    assert done.returncode == 2
    assert message in done.stderr
