"""What one ``weightsearch`` command did, as the tests see it (shared by conftest and tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class CliResult:
    """What one ``weightsearch`` command did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def assert_error(self, code: int = 2) -> str:
        """Check the contract of a plain error: exit code, one or two ``error:`` lines, no
        traceback; return the message."""
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert lines, "nothing on stderr"
        assert lines[0].startswith("error: "), self.err
        assert 1 <= len(lines) <= 2, self.err
        assert "Traceback" not in self.err + self.out
        return self.err
