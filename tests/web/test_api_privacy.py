"""Issue 11, items 2, 4 and 5, through the JSON API and the organisation pages on
SQLite and PostgreSQL: an organisation reads the resident's words masked until it
holds the ticket (and again after a release); it may know only of tickets offered or
open to it or that it held; an outsider's claim is answered as its read is, never
with the holder's name. Staff see everything."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.conftest import Party, file, make_org, make_staff
from tests.web.test_orgpages import OrgBrowser, card_of, signed_in

Sessions = async_sessionmaker[AsyncSession]
WORDS = "我住3栋2单元501室，电话13812345678"
SECRETS = ("501", "13812345678")
MASKED = ("3栋2单元***室", "138****5678")
# Few other tests file this category, so the organisation pages' open list shows ours.
CATEGORY = "childcare"


def masked(text: str) -> bool:
    return all(part in text for part in MASKED) and not any(s in text for s in SECRETS)


async def read(client: httpx.AsyncClient, number: str, party: Party) -> httpx.Response:
    return await client.get(f"/api/tickets/{number}", headers=party.headers)


async def post(
    client: httpx.AsyncClient, number: str, action: str, party: Party, body: object = None
) -> httpx.Response:
    return await client.post(f"/api/tickets/{number}/{action}", headers=party.headers, json=body)


def not_found(response: httpx.Response, number: str) -> None:
    """The answer for a ticket the caller may not know of: exactly that of no ticket."""
    assert response.status_code == 404, response.text
    assert response.json() == {
        "error": "ticket_not_found",
        "message": f"No ticket has the number {number!r}.",
    }


# --- item 2: the words, masked before the claim -------------------------------------------


async def test_api_masks_the_words_until_the_claim_and_again_after_the_release(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    holder, other = await make_org(db), await make_org(db)
    staff = await make_staff(db)
    number = await file(db, description=WORDS)

    for party in (holder, other):
        before = await read(client, number, party)
        assert before.status_code == 200
        assert masked(before.json()["description"]), before.json()["description"]
    assert (await read(client, number, staff)).json()["description"] == WORDS

    claimed = await post(client, number, "claim", holder)
    assert claimed.json()["description"] == WORDS
    assert (await read(client, number, holder)).json()["description"] == WORDS
    assert masked((await read(client, number, other)).json()["description"])

    released = await post(client, number, "release", holder, body={"reason": "没有水电工"})
    assert released.status_code == 200
    assert masked(released.json()["description"])
    again = await read(client, number, holder)
    assert again.status_code == 200  # it held the ticket: it may still read it, masked
    assert masked(again.json()["description"]) and "phone" not in again.json()
    assert (await read(client, number, staff)).json()["description"] == WORDS


async def test_org_pages_mask_the_words_of_open_tickets_and_show_them_to_the_holder(
    web_app: FastAPI, db: Sessions
) -> None:
    organisation = await make_org(db, categories=[CATEGORY])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app), base_url="http://web.test"
    ) as http:
        browser = await signed_in(OrgBrowser(http), organisation)
        number = await file(db, category=CATEGORY, description=WORDS)

        card = card_of((await browser.home()).text, number)
        assert masked(card), card

        assert (await browser.act(number, "claim")).status_code == 303
        card = card_of((await browser.home()).text, number)
        assert WORDS in card

        assert (await browser.act(number, "release", reason="reason_far")).status_code == 303
        page = (await browser.home()).text
        assert not any(secret in page for secret in SECRETS)


# --- item 4: only tickets offered or open to it, or held --------------------------------


async def test_a_ticket_awaiting_review_is_not_found_for_organisations(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    lawyers = await make_org(db, categories=["legal_aid"])
    staff = await make_staff(db)
    number = await file(db, category="legal_aid", description=WORDS)
    assert (await read(client, number, staff)).json()["status"] == "submitted"
    not_found(await read(client, number, lawyers), number)
    not_found(await post(client, number, "claim", lawyers), number)


async def test_other_categories_and_taken_tickets_are_not_found_like_missing_ones(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    outsider = await make_org(db, categories=["elder_care"])
    not_found(await read(client, number, outsider), number)
    missing = "RO-000101-9999"
    not_found(await read(client, missing, outsider), missing)

    holder = await make_org(db)
    await post(client, number, "claim", holder)
    latecomer = await make_org(db)  # joined after the claim: never offered it
    not_found(await read(client, number, latecomer), number)


# --- item 5: the claim checks who asks before the state ----------------------------------


async def test_an_outsiders_claim_of_a_taken_ticket_does_not_name_the_holder(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    number = await file(db)
    holder = await make_org(db)
    assert (await post(client, number, "claim", holder)).status_code == 200
    for outsider in (
        await make_org(db, categories=["elder_care"]),
        await make_org(db, communities=[]),
        await make_org(db),  # the right category, but the ticket was gone before it came
    ):
        for action, body in (
            ("claim", None),
            ("start", None),
            ("done", None),
            ("release", {"reason": "x"}),
        ):
            refused = await post(client, number, action, outsider, body=body)
            not_found(refused, number)
            assert holder.name not in refused.text


async def test_offered_organisations_that_lose_still_get_already_taken(
    client: httpx.AsyncClient, db: Sessions
) -> None:
    winner, loser = await make_org(db), await make_org(db)
    number = await file(db)
    assert (await post(client, number, "claim", winner)).status_code == 200
    lost = await post(client, number, "claim", loser)
    assert lost.status_code == 409
    assert lost.json()["error"] == "already_taken" and lost.json()["holder"] == winner.name


async def test_org_page_claim_by_an_outsider_is_not_found_without_the_holder(
    web_app: FastAPI, db: Sessions
) -> None:
    holder = await make_org(db, categories=[CATEGORY])
    number = await file(db, category=CATEGORY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app), base_url="http://web.test"
    ) as http:
        browser = await signed_in(OrgBrowser(http), holder)
        assert (await browser.act(number, "claim")).status_code == 303
    latecomer = await make_org(db, categories=[CATEGORY])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app), base_url="http://web.test"
    ) as http:
        browser = await signed_in(OrgBrowser(http), latecomer)
        refused = await browser.act(number, "claim")
    assert refused.status_code == 404
    assert holder.name not in refused.text
