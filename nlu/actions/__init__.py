"""Custom actions served by rasa-sdk (`python -m rasa_sdk --actions nlu.actions`).

They run in the application's environment and call services/ for everything that
touches tickets; every sentence they send is a response of domain.yml.
"""

from nlu.actions.alerts import ActionRecordAlert
from nlu.actions.cancel_and_rate import (
    ActionCancelRequest,
    ActionNotFixedInWords,
    ActionRateInWords,
)
from nlu.actions.clarify import ActionClarifyCategory
from nlu.actions.emergency_followup import ActionAttachEmergencyContact, ActionReadEmergencyAnswer
from nlu.actions.language import ActionDetectLanguage
from nlu.actions.remembered import ActionAskAddress, ActionAskPhone
from nlu.actions.request_form import (
    ActionChangeField,
    ActionNewRequest,
    ActionResetAcknowledgement,
    ActionStartRequest,
    ValidateServiceRequestForm,
)
from nlu.actions.status import ActionShowStatus
from nlu.actions.tickets import (
    ActionJoinTicket,
    ActionOfferCategories,
    ActionSetCategory,
    ActionShowSummary,
    ActionSubmitRequest,
)

__all__ = [
    "ActionAskAddress",
    "ActionAskPhone",
    "ActionAttachEmergencyContact",
    "ActionCancelRequest",
    "ActionChangeField",
    "ActionClarifyCategory",
    "ActionDetectLanguage",
    "ActionJoinTicket",
    "ActionNewRequest",
    "ActionNotFixedInWords",
    "ActionOfferCategories",
    "ActionRateInWords",
    "ActionReadEmergencyAnswer",
    "ActionRecordAlert",
    "ActionResetAcknowledgement",
    "ActionSetCategory",
    "ActionShowStatus",
    "ActionShowSummary",
    "ActionStartRequest",
    "ActionSubmitRequest",
    "ValidateServiceRequestForm",
]
