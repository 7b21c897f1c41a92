"""What a conformance check reports: :class:`Finding` (check, status, message) and the four statuses."""

from __future__ import annotations

from dataclasses import dataclass

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``status`` is pass / warn / fail / skip."""

    check: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"{self.status.upper():<4}  {self.check:<13} {self.message}"


def describe_exception(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"raised {type(exc).__name__}: {msg[0] if msg else ''}"
