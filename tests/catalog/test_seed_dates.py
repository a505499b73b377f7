"""The personas' dates are those of a given day: the seed keeps what was current then
current whenever it is computed, and what had ended then ended."""

from __future__ import annotations

import datetime as dt

import pytest

from services.catalog.seed import PERSONAS_AS_OF, current_period

BALANCE = (dt.date(2026, 3, 1), dt.date(2027, 3, 1))  # referenced for a year, current on PERSONAS_AS_OF
TENSION = (dt.date(2024, 6, 1), dt.date(2025, 6, 1))  # had expired by then


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (PERSONAS_AS_OF, BALANCE),
        (dt.date(2027, 2, 28), BALANCE),
        (dt.date(2027, 3, 1), (dt.date(2027, 3, 1), dt.date(2028, 3, 1))),
        (dt.date(2027, 6, 1), (dt.date(2027, 3, 1), dt.date(2028, 3, 1))),
        (dt.date(2031, 3, 2), (dt.date(2031, 3, 1), dt.date(2032, 3, 1))),
    ],
)
def test_a_referencing_current_in_the_personas_stays_current(
    on: dt.date, expected: tuple[dt.date, dt.date]
) -> None:
    start, end = current_period(*BALANCE, on)
    assert (start, end) == expected
    assert start is not None
    assert start <= on < end


@pytest.mark.parametrize("on", [PERSONAS_AS_OF, dt.date(2027, 6, 1), dt.date(2035, 1, 1)])
def test_a_referencing_already_ended_stays_ended(on: dt.date) -> None:
    assert current_period(*TENSION, on) == TENSION


def test_a_delegation_end_date_moves_by_whole_years() -> None:
    until = dt.date(2027, 12, 31)
    assert current_period(None, until, dt.date(2027, 12, 30)) == (None, until)
    assert current_period(None, until, dt.date(2027, 12, 31)) == (None, dt.date(2028, 12, 31))
    assert current_period(None, dt.date(2028, 2, 29), dt.date(2029, 1, 1)) == (None, dt.date(2029, 2, 28))


def test_the_seed_computed_later_keeps_the_personas_story(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed as it would be computed on 1 June 2028: Ma Balance referenced, Carnet Tension
    expired, Coach Sommeil withdrawn, Claire still Henri's caregiver."""
    from sqlalchemy import select

    from services.catalog import seed as seeding
    from services.catalog.catalogue.service import state
    from services.catalog.models import App, Base, Delegation
    from shared.db.engine import Database
    from shared.personas import load_personas

    later = dt.date(2028, 6, 1)
    monkeypatch.setattr(seeding, "today", lambda: later)
    db = Database("sqlite://")
    Base.metadata.create_all(db.engine)
    with db.session() as session:
        seeding.seed(session, load_personas())
        session.flush()
        apps = {app.id: state(app, later) for app in session.scalars(select(App))}
        delegation = session.scalars(select(Delegation)).one()
    db.dispose()
    assert apps == {
        "ma-balance": "active",
        "carnet-tension": "expired",
        "agenda-soins": "active",
        "coach-sommeil": "withdrawn",
    }
    assert delegation.until == dt.date(2028, 12, 31)
