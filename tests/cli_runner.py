"""Running the real CLI in-process and capturing what it prints, for tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from safeguarding.cli.main import run


@dataclass
class Result:
    code: int
    out: str
    err: str


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return Result(code=code, out=captured.out, err=captured.err)
