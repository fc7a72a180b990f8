"""The staff dashboard: sign-in (throttled), one's own password, the live queue,
ticket pages and their actions, organisations, categories and staff (admin), charts
and the settlement export.

`router` holds every page; web/app.py includes it. See docs/dashboard.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from web.dashboard import account, admin, auth, queue, reports, tickets

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(account.router)
router.include_router(queue.router)
router.include_router(tickets.router)
router.include_router(reports.router)
router.include_router(admin.router)

__all__ = ["router"]
