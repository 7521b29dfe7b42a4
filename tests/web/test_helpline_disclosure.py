"""The statistics API's answers together: a researcher may ask for every table the set publishes,
and no answer may give back what another withholds.

Each case is a store in which one table's withheld small cell came back from the others: the
intruder of ``tests/helpline/intruder.py`` reads every answer the API gives, as a client would,
and may not pin down a withheld count or show it to be small.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safeguarding.access.roles import Role
from safeguarding.helpline.importer import IngestKeys, PreparedContact, store_contacts
from safeguarding.helpline.published import PUBLISHED_BY
from safeguarding.helpline.schema import ContactReport
from safeguarding.helpline.stats import load_facts
from safeguarding.store import Store
from tests.helpline.intruder import exposures
from tests.web.conftest import Account, make_app

PORN = [{"factor": "escalating_pornography", "basis": "stated"}]
SELF = {"caller_type": "self_concerned"}


def _contacts(*groups: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """``n`` contacts coded alike per group, spread over the months of 2025."""
    return [{"month": f"2025-{1 + i % 12:02d}", **fields} for n, fields in groups for i in range(n)]


# The concern table's not_applicable counted the contacts of every caller who is not
# self-concerned, so total - not_applicable gave back the self-concerned count that the
# caller-type table withheld with the 3 'other' contacts, and those 3 with it.
CONCERN = _contacts(
    (30, SELF | {"concern": "viewing_csam"}),
    (30, SELF | {"concern": "feelings_no_offence"}),
    (80, {"caller_type": "relative_partner"}),
    (80, {"caller_type": "professional"}),
    (3, {"caller_type": "other"}),
)
# The young/older comparison counted 150 self-concerned contacts beside a caller-type table
# that withheld the self-concerned count (153 with the 3 'other'): at most 3 'other'.
COMPARED = _contacts(
    (100, SELF | {"concern": "viewing_csam", "age_band": "27_35", "risk_factors": PORN}),
    (50, SELF | {"concern": "feelings_no_offence", "age_band": "36_plus", "risk_factors": []}),
    (3, {"caller_type": "other", "age_band": "36_plus"}),
)
# 12 contacts with neither a caller token nor first/repeat coding beside a contact-kind table
# that withheld 'unknown' (12) as the complement of 3 repeat contacts: repeat = 115 - 100 - 12.
UNATTRIBUTED = _contacts(
    (100, {"contact_kind": "first"}),
    (3, {"contact_kind": "repeat", "caller_token": "nick-a"}),
    (12, {}),
)

# The latest year's total withheld in the age-band table (with 2023's 5) while its months
# published 82 and 37 and withheld the 5 of January: 2024 is at least 82 + 37 + 1, so 2023 at
# most 129 - 120 = 9, shown to be small.
MONTHS = [
    *({"month": "2023-05"} for _ in range(5)),
    *({"month": "2024-01", "age_band": "18_21"} for _ in range(5)),
    *({"month": "2024-02", "age_band": "under_18"} for _ in range(82)),
    *({"month": "2024-03", "age_band": "22_26"} for _ in range(37)),
]

# Nobody with escalating use recorded; the 9 compared aged 36+ are withheld beside the withheld
# 36+ count (9, with 8 of unknown age). Withheld with them, their 0 lay on no cycle of positive
# cells, and protecting the comparison failed: every answer was a server error.
ZERO_IN_A_GROUP = [
    *(
        SELF
        | {
            "month": "2024-02",
            "age_band": "36_plus",
            "risk_factors": [],
            "help_needs": ["wants_to_stop"],
        }
        for _ in range(9)
    ),
    *({"month": "2024-02", "caller_type": "relative_partner"} for _ in range(8)),
    *(SELF | {"month": "2024-03", "age_band": "22_26", "risk_factors": []} for _ in range(83)),
    *({"month": "2024-01", "caller_type": "other", "age_band": "22_26"} for _ in range(45)),
]


@pytest.fixture
def researcher(store: Store, accounts_by_role: dict[Role, Account]) -> Iterator[TestClient]:
    token = accounts_by_role[Role.RESEARCHER].token
    with TestClient(
        make_app(store), base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def _answers(client: TestClient) -> dict[str, dict[str, Any]]:
    """Every answer the API gives: one per published ``by`` (a table it does not publish for
    these contacts is refused, and gives nothing)."""
    answers = {}
    for by in PUBLISHED_BY:
        response = client.get("/api/helpline/stats", params={"by": by})
        if response.status_code == 422:
            assert response.json()["rule"] == "published tables", response.text
            continue
        assert response.status_code == 200, response.text
        answers[by] = response.json()
    return answers


@pytest.mark.parametrize(
    "records",
    [CONCERN, COMPARED, UNATTRIBUTED, MONTHS, ZERO_IN_A_GROUP],
    ids=["concern", "comparison", "unattributed", "months", "zero-in-a-group"],
)
def test_no_answer_gives_back_what_another_withholds(
    store: Store, researcher: TestClient, records: list[dict[str, Any]]
) -> None:
    keys = IngestKeys.from_store(store)
    contacts = [
        PreparedContact(ContactReport.model_validate(r), f"case-{i}") for i, r in enumerate(records)
    ]
    with store.session() as session:
        store_contacts(session, contacts, keys)
    answers = _answers(researcher)
    assert "age_band,year" in answers and answers["age_band,year"]["min_cell"] == 10
    with store.session() as session:
        facts = load_facts(session)
    assert exposures(answers, facts) == []
