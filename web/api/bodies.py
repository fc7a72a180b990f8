"""The JSON API's request bodies: bounded, NUL-free text, ids within the database's range."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TEXT = 2000
MAX_DB_INT = 2**31 - 1


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip()


class DoneBody(BaseModel):
    """Optional body of `done`: a note for the resident."""

    model_config = ConfigDict(extra="ignore")

    note: Annotated[str | None, Field(max_length=MAX_TEXT)] = None

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return (_clean(value) or None) if value is not None else None


class ReasonBody(BaseModel):
    """Body of `release` and `reject`: why, told to staff or the resident."""

    model_config = ConfigDict(extra="ignore")

    reason: Annotated[str, Field(max_length=MAX_TEXT)]

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = _clean(value)
        if not value:
            raise ValueError("must not be blank")
        return value


class AssignBody(BaseModel):
    """Body of `assign`: the organisation that gets the ticket, and an optional note
    (why; kept in the ticket's history and shown to the organisations concerned)."""

    model_config = ConfigDict(extra="ignore")

    organisation_id: Annotated[int, Field(strict=True, ge=1, le=MAX_DB_INT)]
    note: Annotated[str | None, Field(max_length=MAX_TEXT)] = None

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return (_clean(value) or None) if value is not None else None


class NoteBody(BaseModel):
    """Optional body of the emergency and hand-off steps: staff's own note, kept in the
    ticket's history (staff only; the resident is not sent it)."""

    model_config = ConfigDict(extra="ignore")

    note: Annotated[str | None, Field(max_length=MAX_TEXT)] = None

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return (_clean(value) or None) if value is not None else None


class HandBody(NoteBody):
    """Body of `hand-to-organisation`: the category the ticket becomes (a code of
    `orders categories` / services/reference/categories.yml) and an optional note."""

    category: Annotated[str, Field(min_length=1, max_length=32)]

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        value = _clean(value)
        if not value:
            raise ValueError("must not be blank")
        return value
