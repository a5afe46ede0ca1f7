"""Which documents a question may draw on: filters by jurisdiction and type, and a resident's town
widened to its state's and national documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Optional restrictions; empty means everything."""

    jurisdictions: tuple[str, ...] = ()
    doc_types: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.jurisdictions, self.doc_types

    def where(self) -> dict[str, Any] | None:
        clauses = [
            {key: {"$in": list(values)}}
            for key, values in (("jurisdiction", self.jurisdictions), ("doc_type", self.doc_types))
            if values
        ]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip


def town_filter(town: str, known: list[str]) -> Filters:
    """A resident's town -> its own documents, its state's, and national ones."""
    wanted = town.strip().lower()
    matches = {j for j in known if wanted in (j.lower(), j.lower().split(",")[0].strip())}
    chosen = (matches or {town.strip()}) | {"United States"}
    for j in matches:
        if "," in j:
            state = j.rsplit(",", 1)[1].strip().upper()
            chosen.add(STATES.get(state, state))
    return Filters(jurisdictions=tuple(sorted(chosen)))
