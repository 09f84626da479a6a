"""What a case is: its categories, priorities and status workflow.

Shared by the engine (which opens cases), the web UI (which moves them along),
transcription flagging and the brand reports, so they all use the same words.
Every change to a case goes through :mod:`ivr.cases.lifecycle`, which applies these rules.
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


# What people read for each stored word (the web UI translates these through its catalog).
STATUS_LABELS: Final[dict[str, str]] = {
    "new": "New", "acknowledged": "Acknowledged", "in_progress": "In progress", "referred": "Referred",
    "resolved": "Resolved", "closed": "Closed",
}

# How a call ended (calls.outcome).
OUTCOMES: Final[dict[str, str]] = {
    "completed": "Completed", "abandoned": "Hung up before choosing", "hangup": "Hung up during the call",
    "quick_exit": "Caller pressed * to leave fast", "error": "Ended by a system error",
    "transferred": "Passed to a caseworker",
}

# The safe times a caller can choose for a call-back, with their hours in the office's time zone.
CALLBACK_WINDOWS: Final[dict[str, tuple[str, str, str]]] = {
    "morning": ("Morning", "08:00", "12:00"),
    "afternoon": ("Afternoon", "12:00", "17:00"),
    "evening": ("Evening", "17:00", "21:00"),
}

# Steps of the hotline flow (callflows/hotline.yaml) in words; other flows' steps fall back to their name.
STEP_LABELS: Final[dict[str, str]] = {
    "greeting": "Heard the greeting", "known_language": "Language known from an earlier call",
    "choose_language": "Chose a language", "language_menu": "Chose a language", "main_menu": "Main menu",
    "category_menu": "Chose the problem", "category_chosen": "Problem chosen",
    "workplace_code": "Asked for the workplace code", "workplace_check": "Workplace code checked",
    "workplace_invalid": "Workplace code not recognised", "report_case": "Report opened",
    "report_record": "Recorded the report", "record": "Recorded a message", "report_done": "Report saved",
    "code_readback": "Heard their case code", "code_keep": "Asked to keep the case code",
    "code_again": "Heard the case code again", "message_case": "Message saved",
    "callback_number": "Call-back: number", "callback_no_number": "Call-back: no number available",
    "callback_consent": "Call-back: agreed to be called", "callback_window": "Call-back: chose a safe time",
    "callback_request": "Call-back requested", "followup_check": "Follow-up on a case",
    "followup_code": "Entered a case code", "followup_lookup": "Case code checked",
    "followup_invalid": "Case code not recognised", "followup_too_many": "Too many wrong case codes",
    "followup_reply": "Checked for a reply", "followup_play": "Heard the caseworker's reply",
    "followup_none": "No reply yet", "followup_add": "Asked to add to the case",
    "followup_record": "Recorded more for the case", "followup_saved": "Addition saved",
    "emergency": "Emergency", "emergency_transfer": "Emergency: put through to a person",
    "operator": "Asked for a person", "operator_transfer": "Put through to a person",
    "office_closed": "Office closed", "call_over": "Call finished", "goodbye": "Goodbye",
    "goodbye_silent": "Ended without a sound",
}
