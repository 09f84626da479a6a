"""What a case is: its categories, priorities and status workflow.

Shared by the engine (which opens cases), the web UI (which moves them along),
transcription flagging and the brand reports, so they all use the same words.
"""

from __future__ import annotations

from typing import Final

# The ILO forced-labour indicators a caller can pick, in menu order (digit 1 first).
# The keys are the reporting values stored in cases.category and call_steps.category.
CATEGORIES: Final[dict[str, str]] = {
    "wages": "Wages unpaid or late",
    "documents": "Documents held by the employer",
    "debt": "Debt or recruitment fees",
    "hours": "Excessive hours",
    "violence": "Threats or violence",
    "movement": "Locked in or movement restricted",
    "unsafe": "Unsafe work or housing",
    "other": "Something else",
}

PRIORITY_LOW: Final = 0
PRIORITY_NORMAL: Final = 1
PRIORITY_HIGH: Final = 2
PRIORITY_EMERGENCY: Final = 3
PRIORITIES: Final[dict[int, str]] = {0: "low", 1: "normal", 2: "high", 3: "emergency"}

STATUSES: Final[tuple[str, ...]] = ("new", "acknowledged", "in_progress", "referred", "resolved", "closed")

# new -> acknowledged -> in progress -> referred or resolved -> closed; a case can be
# reopened from resolved/closed into in progress when the worker calls again.
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "new": ("acknowledged",),
    "acknowledged": ("in_progress",),
    "in_progress": ("referred", "resolved"),
    "referred": ("in_progress", "resolved"),
    "resolved": ("closed", "in_progress"),
    "closed": ("in_progress",),
}


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, ())
