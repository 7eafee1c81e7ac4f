"""One version: ``skae.__version__`` is the release CHANGES.md describes on top."""

import re
from pathlib import Path

from packaging.version import Version

import skae

CHANGES = Path(__file__).resolve().parents[1] / "CHANGES.md"


def test_version_is_the_top_release_of_the_changelog():
    # "## 0.2.0 (unreleased)" goes with 0.2.0.devN; "## 0.2.0" with 0.2.0 itself.
    heading = next(line for line in CHANGES.read_text(encoding="utf-8").splitlines()
                   if line.startswith("## "))
    match = re.fullmatch(r"## (\S+)( \(unreleased\))?", heading)
    assert match, f"CHANGES.md's top heading {heading!r} is not '## X.Y.Z [(unreleased)]'"
    version = Version(skae.__version__)
    assert version.base_version == match[1]
    assert version.is_devrelease == bool(match[2])
