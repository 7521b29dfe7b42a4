"""The allocator setting: a freed large array's memory serves the next one."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

_FAULTS = """
import resource, sys
import numpy as np
from safeguarding.allocator import reuse_freed_memory
if sys.argv[1] == "on":
    assert reuse_freed_memory()
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    array = np.ones(100_000_000 // 8)
    del array
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[1] + faults[2])
"""


def _later_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_freed_large_array_is_reused_instead_of_faulted_in_again() -> None:
    # 100 MB arrays: without the setting every one is mapped and faulted in afresh.
    assert _later_faults("off") > 100
    assert _later_faults("on") < 10
