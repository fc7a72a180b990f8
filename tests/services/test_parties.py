"""Organisations and staff: credentials, tokens, link codes, linked chats."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import BadCredentials, NotFound, UnknownCategory
from services.models import ChatLink, LinkCode, Organisation, Staff
from services.parties import (
    create_organisation,
    create_staff,
    digest,
    hash_password,
    new_org_link_code,
    normalise_code,
    organisation_by_token,
    organisation_chats,
    party_of_chat,
    password_matches,
    redeem_link_code,
    set_organisation_active,
    staff_by_token,
    staff_chats,
    staff_sees,
    verify_password,
)
from tests.services.helpers import NOW, community_id, make_org, make_staff, unique


async def test_create_organisation_prints_credentials_once(session: AsyncSession) -> None:
    xingfuli = await community_id(session, "幸福里社区")
    organisation, credentials = await create_organisation(
        session,
        name="  蓝天维修队 ",
        categories=["repair", "property"],
        communities=[xingfuli],
        contact="李师傅",
        now=NOW,
    )
    assert organisation.id is not None
    assert organisation.name == "蓝天维修队"
    assert organisation.active and not organisation.all_communities
    assert organisation.created_at == NOW
    assert {c.code for c in organisation.categories} == {"repair", "property"}
    assert [c.id for c in organisation.communities] == [xingfuli]
    # Only hashes are stored, never the secrets themselves.
    assert organisation.token_hash == digest(credentials.token)
    assert credentials.token not in (organisation.token_hash or "")
    assert len(credentials.link_code) == 8
    assert not set(credentials.link_code) & set("01OIL")
    code = await session.get(LinkCode, digest(credentials.link_code))
    assert code is not None
    assert (code.organisation_id, code.staff_id, code.used_at) == (organisation.id, None, None)
    assert await session.get(LinkCode, credentials.link_code) is None


async def test_create_organisation_all_communities_and_bad_input(session: AsyncSession) -> None:
    everywhere, _ = await create_organisation(
        session, name=unique("all"), categories=["repair"], communities=None
    )
    assert everywhere.all_communities
    assert everywhere.communities == []
    with pytest.raises(UnknownCategory):
        await create_organisation(
            session, name=unique("bad"), categories=["astrology"], communities=None
        )
    with pytest.raises(NotFound):
        await create_organisation(
            session, name=unique("bad"), categories=["repair"], communities=[987654]
        )
    with pytest.raises(ValueError):
        await create_organisation(session, name="  ", categories=["repair"], communities=None)


async def test_two_organisations_get_different_secrets(session: AsyncSession) -> None:
    a = await make_org(session, link=False)
    b = await make_org(session, link=False)
    assert a.credentials.token != b.credentials.token
    assert a.credentials.link_code != b.credentials.link_code


async def test_create_staff_with_password(session: AsyncSession) -> None:
    heping = await community_id(session, "和平新村社区")
    staff, credentials = await create_staff(
        session,
        name=unique("王主任"),
        role="staff",
        communities=[heping],
        password="s3cret-pass",
        now=NOW,
    )
    assert staff.role == "staff" and staff.active
    assert [c.id for c in staff.communities] == [heping]
    assert staff.token_hash == digest(credentials.token)
    assert staff.password_hash is not None and "s3cret-pass" not in staff.password_hash
    assert verify_password(staff.password_hash, "s3cret-pass")
    assert not verify_password(staff.password_hash, "wrong")
    code = await session.get(LinkCode, digest(credentials.link_code))
    assert code is not None and (code.staff_id, code.organisation_id) == (staff.id, None)


async def test_create_staff_rejects_bad_role_and_name(session: AsyncSession) -> None:
    with pytest.raises(ValueError):
        await create_staff(session, name=unique("x"), role="king")
    with pytest.raises(ValueError):
        await create_staff(session, name=" ", role="admin")


async def test_staff_without_password_cannot_log_in(session: AsyncSession) -> None:
    member = await make_staff(session, role="admin", communities=())
    assert member.staff.password_hash is None
    assert not verify_password(member.staff.password_hash, "")
    assert not verify_password(member.staff.password_hash, "anything")


def test_password_hashing() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2")
    assert stored != hash_password("correct horse")  # salted
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert not verify_password(stored, "")
    assert not verify_password("not-a-hash", "correct horse")
    assert not verify_password(None, "correct horse")


async def test_organisation_by_token(session: AsyncSession) -> None:
    org = await make_org(session, link=False)
    found = await organisation_by_token(session, org.credentials.token)
    assert found.id == org.id
    # Surrounding whitespace from a copied header is tolerated.
    assert (await organisation_by_token(session, f" {org.credentials.token}\n")).id == org.id
    with pytest.raises(BadCredentials):
        await organisation_by_token(session, "not-a-token")
    with pytest.raises(BadCredentials):
        await organisation_by_token(session, org.credentials.link_code)
    await set_organisation_active(session, org.organisation, False)
    with pytest.raises(BadCredentials):
        await organisation_by_token(session, org.credentials.token)
    await set_organisation_active(session, org.organisation, True)
    assert (await organisation_by_token(session, org.credentials.token)).id == org.id


async def test_staff_by_token(session: AsyncSession) -> None:
    member = await make_staff(session, link=False)
    assert (await staff_by_token(session, member.credentials.token)).id == member.staff.id
    with pytest.raises(BadCredentials):
        await staff_by_token(session, "unknown")
    # An organisation's token is not a staff token.
    org = await make_org(session, link=False)
    with pytest.raises(BadCredentials):
        await staff_by_token(session, org.credentials.token)
    member.staff.active = False
    await session.flush()
    with pytest.raises(BadCredentials):
        await staff_by_token(session, member.credentials.token)


async def test_redeem_link_code_binds_chat_once(session: AsyncSession) -> None:
    org = await make_org(session, link=False)
    typed = org.credentials.link_code.lower()
    typed = f"{typed[:4]}-{typed[4:]} "  # as a person types it
    assert normalise_code(typed) == org.credentials.link_code
    later = NOW.replace(hour=5)
    party = await redeem_link_code(
        session, code=typed, channel="telegram", chat_id="-100777", now=later
    )
    assert party.organisation is not None and party.organisation.id == org.id
    assert party.staff is None
    code = await session.get(LinkCode, digest(org.credentials.link_code))
    assert code is not None and code.used_at == later
    links = await organisation_chats(session, org.id)
    assert [(link.channel, link.chat_id) for link in links] == [("telegram", "-100777")]
    # One-time: the same code again, from any chat, is refused.
    with pytest.raises(BadCredentials):
        await redeem_link_code(
            session, code=org.credentials.link_code, channel="telegram", chat_id="-100778"
        )
    with pytest.raises(BadCredentials):
        await redeem_link_code(session, code="ZZZZZZZZ", channel="telegram", chat_id="-100779")
    assert len(await organisation_chats(session, org.id)) == 1


async def test_second_link_code_links_a_second_chat(session: AsyncSession) -> None:
    org = await make_org(session)
    code = await new_org_link_code(session, org.organisation, now=NOW)
    assert code != org.credentials.link_code
    await redeem_link_code(session, code=code, channel="telegram", chat_id="-100555")
    chats = [link.chat_id for link in await organisation_chats(session, org.id)]
    assert chats == [org.chat, "-100555"]


async def test_relinking_a_chat_moves_it(session: AsyncSession) -> None:
    first = await make_org(session, link=False)
    second = await make_org(session, link=False)
    await redeem_link_code(
        session, code=first.credentials.link_code, channel="telegram", chat_id="-100900"
    )
    party = await redeem_link_code(
        session, code=second.credentials.link_code, channel="telegram", chat_id="-100900"
    )
    assert party.organisation is not None and party.organisation.id == second.id
    assert await organisation_chats(session, first.id) == []
    assert [link.chat_id for link in await organisation_chats(session, second.id)] == ["-100900"]
    now_speaks_for = await party_of_chat(session, channel="telegram", chat_id="-100900")
    assert now_speaks_for.organisation is not None
    assert now_speaks_for.organisation.id == second.id
    count = await session.scalar(
        select(func.count()).select_from(ChatLink).where(ChatLink.chat_id == "-100900")
    )
    assert count == 1
    # A staff member's code moves the chat from the organisation to the staff member.
    member = await make_staff(session, link=False)
    await redeem_link_code(
        session, code=member.credentials.link_code, channel="telegram", chat_id="-100900"
    )
    party = await party_of_chat(session, channel="telegram", chat_id="-100900")
    assert party.organisation is None
    assert party.staff is not None and party.staff.id == member.staff.id


async def test_same_chat_id_on_another_channel_is_another_chat(session: AsyncSession) -> None:
    org = await make_org(session, link=False)
    await redeem_link_code(session, code=org.credentials.link_code, channel="web", chat_id="42")
    assert (await party_of_chat(session, channel="web", chat_id="42")).organisation is not None
    telegram = await party_of_chat(session, channel="telegram", chat_id="42")
    assert (telegram.organisation, telegram.staff) == (None, None)


async def test_suspended_party_code_refused(session: AsyncSession) -> None:
    org = await make_org(session, link=False)
    await set_organisation_active(session, org.organisation, False)
    with pytest.raises(BadCredentials):
        await redeem_link_code(
            session, code=org.credentials.link_code, channel="telegram", chat_id="-1"
        )
    # Refused, not spent: once reactivated the code still works.
    code = await session.get(LinkCode, digest(org.credentials.link_code))
    assert code is not None and code.used_at is None
    assert (await party_of_chat(session, channel="telegram", chat_id="-1")).organisation is None

    member = await make_staff(session, link=False)
    member.staff.active = False
    await session.flush()
    with pytest.raises(BadCredentials):
        await redeem_link_code(
            session, code=member.credentials.link_code, channel="telegram", chat_id="-2"
        )


async def test_party_of_an_unlinked_chat_is_a_resident(session: AsyncSession) -> None:
    party = await party_of_chat(session, channel="telegram", chat_id=unique("nobody"))
    assert party.organisation is None and party.staff is None


async def test_staff_chats_by_community(session: AsyncSession) -> None:
    xingfuli = await community_id(session, "幸福里社区")
    heping = await community_id(session, "和平新村社区")
    admin = await make_staff(session, role="admin", communities=())
    local = await make_staff(session, communities=["幸福里社区"])
    other = await make_staff(session, communities=["和平新村社区"])
    both = await make_staff(session, communities=["幸福里社区", "和平新村社区"])
    unlinked = await make_staff(session, communities=["幸福里社区"], link=False)
    inactive = await make_staff(session, communities=["幸福里社区"])
    inactive.staff.active = False
    await session.flush()
    mine = {m.chat for m in (admin, local, other, both, unlinked, inactive)}

    async def chats(community: int | None) -> set[str]:
        return {link.chat_id for _, link in await staff_chats(session, community)} & mine

    assert await chats(xingfuli) == {admin.chat, local.chat, both.chat}
    assert await chats(heping) == {admin.chat, other.chat, both.chat}
    # A ticket without a community goes to every active staff member.
    assert await chats(None) == {admin.chat, local.chat, other.chat, both.chat}
    # The staff member of each row is the one the chat belongs to.
    for staff, link in await staff_chats(session, xingfuli):
        assert link.staff_id == staff.id
        assert isinstance(staff, Staff)


async def test_organisation_chats_do_not_reach_staff(session: AsyncSession) -> None:
    org = await make_org(session)
    xingfuli = await community_id(session, "幸福里社区")
    assert org.chat not in {link.chat_id for _, link in await staff_chats(session, xingfuli)}
    assert org.chat not in {link.chat_id for _, link in await staff_chats(session, None)}


async def test_staff_sees(session: AsyncSession) -> None:
    xingfuli = await community_id(session, "幸福里社区")
    heping = await community_id(session, "和平新村社区")
    admin = await make_staff(session, role="admin", communities=(), link=False)
    local = await make_staff(session, communities=["幸福里社区"], link=False)
    assert staff_sees(admin.staff, xingfuli) and staff_sees(admin.staff, heping)
    assert staff_sees(local.staff, xingfuli)
    assert not staff_sees(local.staff, heping)
    assert staff_sees(local.staff, None)


async def test_organisation_rows_hold_no_plain_token(session: AsyncSession) -> None:
    org = await make_org(session, link=False)
    stored = await session.scalar(select(Organisation.token_hash).where(Organisation.id == org.id))
    assert stored == digest(org.credentials.token) != org.credentials.token


async def test_a_password_check_leaves_the_event_loop_free() -> None:
    # argon2 takes ~0.1 s of CPU: on the event loop it would stall every other request.
    stored = hash_password("correct horse battery")
    check = asyncio.create_task(password_matches(stored, "wrong guess, long enough"))
    await asyncio.sleep(0)  # the check starts
    others = await asyncio.gather(*(asyncio.sleep(0, result=n) for n in range(3)))
    assert others == [0, 1, 2]
    assert not check.done(), "the other coroutines ran only after the check"
    assert await check is False
    assert await password_matches(stored, "correct horse battery") is True
