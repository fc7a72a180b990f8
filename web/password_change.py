"""What the staff and organisation password-change pages share: the rules a new
password must pass (as sentences in the viewer's language), and the template context
of the form (web/templates/account/password_form.html).

Each page then (1) checks the new password against these rules, (2) counts the
attempt in the sign-in throttle and checks the current password (a wrong one is a
failed sign-in of that account: a stolen session cannot guess the password faster
than the sign-in form could), (3) stores the argon2 hash through services.parties and
ends every other session of the account (web.sessions.end_other_sessions).
"""

from __future__ import annotations

from typing import Any

from i18n import t
from services.parties import MIN_PASSWORD_LENGTH, PasswordProblem, password_problem

# Form field names of the password-change forms.
CURRENT_FIELD = "current_password"
NEW_FIELD = "new_password"
CONFIRM_FIELD = "confirm"
MAX_FIELD = 200


def new_password_problem(new: str, confirm: str, *, name: str, language: str) -> str | None:
    """The sentence saying what is wrong with the new password (twice typed), or None."""
    problem = password_problem(new, name=name)
    if problem is PasswordProblem.TOO_SHORT:
        return t("account_password_too_short", language, count=MIN_PASSWORD_LENGTH)
    if problem is PasswordProblem.SAME_AS_NAME:
        return t("account_password_same_as_name", language)
    if new != confirm:
        return t("account_password_mismatch", language)
    return None


def form_context(
    *, action: str, needs_current: bool, current_label: str, first_time: bool = False
) -> dict[str, Any]:
    """The template context of the password form posting to `action`."""
    return {
        "action": action,
        "needs_current": needs_current,
        "current_label": current_label,
        "first_time": first_time,
        "min_password": MIN_PASSWORD_LENGTH,
        "current_field": CURRENT_FIELD,
        "new_field": NEW_FIELD,
        "confirm_field": CONFIRM_FIELD,
    }
