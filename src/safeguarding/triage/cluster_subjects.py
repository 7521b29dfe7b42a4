"""Subjects: reports about the same reported user, linked through pseudonymised identifiers.

Two reports belong to one subject when they share an identifier of the reported user: a provider
account id (with its service), an email address, a phone number or a screen name; links chain, so
A–B and B–C put A, B and C together. Identifiers arrive as keys (``IdentifierTable.key``) that
already say what a value is unique within: an account id or screen name without a service is
keyed with its provider (``store_read``), so the same id at two providers links nothing.

A screen name is the weakest of these: users pick it, and common ones ("admin") are held by many
accounts. The provider's account id is the stronger key, so a screen name does not link when the
reports carrying it carry more than one account id (``ambiguous_screen_names``): six accounts
named "admin", each with its own id and email, are six users. Account ids, emails and phone
numbers keep linking, so a user who changes account but keeps the email is still one.

IP addresses are different: they are reassigned (dynamic addresses, carrier-grade NAT), so reports
sharing an IP link only when the address was seen within ``ip_window_hours`` (setting
``[triage] ip_window_hours``, default 24). Links must not chain in time: an address seen every
23 hours would otherwise join every user it was ever assigned to, month after month. So the
sightings of one address form windows, each anchored at its first sighting: a sighting more than
the window after the current window's first opens the next window, and only sightings in one
window link. (Windows, not "any two sightings within the window": that relation does not chain
either, but union-find would chain it.) Addresses that are not globally routable (private,
loopback, link-local, carrier-grade NAT, documentation ranges) are shared by unrelated networks
and link nothing; the store marks them at ingest (``store_read`` leaves them out).

A subject is named by its oldest report's id. Each report learns how many earlier reports its
subject has (the "prior reports" signal a triage policy weighs, KIRAT step 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from safeguarding.triage.tables import (
    ACCOUNT_ID,
    SCREEN_NAME,
    FileTable,
    IdentifierTable,
    ReportTable,
)
from safeguarding.triage.unionfind import IntArray, UnionFind, members, merged_ids, remap

DEFAULT_IP_WINDOW_HOURS = 24.0


@dataclass(frozen=True)
class SubjectSettings:
    ip_window_hours: float = DEFAULT_IP_WINDOW_HOURS

    @property
    def window_seconds(self) -> int:
        return round(self.ip_window_hours * 3600)


def ip_windows(keys: IntArray, seen_at: IntArray, window: int) -> IntArray:
    """A window number for every IP sighting (input order): sightings of one address, in time
    order, share a window until one is more than ``window`` seconds after the window's first.

    Anchoring is sequential per address, but rounds go over all addresses at once: each round
    finds, for every address still open, the first sighting past its current anchor's window
    (a binary search over the sightings sorted by address, then time) and makes it the next
    anchor. Rounds number the most windows any one address has."""
    n = keys.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((seen_at, keys))
    k, t = keys[order], seen_at[order]
    first = np.ones(n, dtype=np.bool_)
    first[1:] = k[1:] != k[:-1]
    group = np.cumsum(first) - 1
    # Time within one line of all addresses: every address gets a span wider than its sightings
    # plus the window, so a search from one address never reaches the next.
    base = t - int(t.min())
    span = int(base.max()) + int(window) + 1
    line = group * span + base
    end = np.append(np.flatnonzero(first)[1:], n)[group]
    anchor = np.zeros(n, dtype=np.bool_)
    current = np.flatnonzero(first)
    while current.size:
        anchor[current] = True
        following = np.searchsorted(line, line[current] + window, side="right")
        current = following[following < end[current]]
    labels = np.empty(n, dtype=np.int64)
    labels[order] = np.cumsum(anchor) - 1
    return labels


def ambiguous_screen_names(identifiers: IdentifierTable) -> IntArray:
    """The screen-name keys (ascending) whose reports carry more than one account id: such a
    name is held by several accounts and links nothing."""
    names = identifiers.kind == SCREEN_NAME
    accounts = identifiers.kind == ACCOUNT_ID
    if not names.any() or not accounts.any():
        return np.zeros(0, dtype=np.int64)
    named = pl.DataFrame({"report": identifiers.report[names], "name": identifiers.key[names]})
    held = pl.DataFrame(
        {"report": identifiers.report[accounts], "account": identifiers.key[accounts]}
    )
    counts = (
        named.join(held, on="report")
        .group_by("name")
        .agg(pl.col("account").n_unique().alias("accounts"))
        .filter(pl.col("accounts") > 1)
    )
    return np.sort(counts["name"].to_numpy()).astype(np.int64)


def _plain(identifiers: IdentifierTable, ambiguous: IntArray) -> np.ndarray:
    """The identifiers that link by value alone: not IPs, and no screen name several accounts
    hold."""
    plain: np.ndarray = ~identifiers.is_ip
    if ambiguous.size:
        plain &= ~((identifiers.kind == SCREEN_NAME) & np.isin(identifiers.key, ambiguous))
    return plain


def link_reports(
    n_reports: int, identifiers: IdentifierTable, settings: SubjectSettings
) -> UnionFind:
    uf = UnionFind(n_reports)
    plain = _plain(identifiers, ambiguous_screen_names(identifiers))
    uf.union_groups(identifiers.report[plain], identifiers.key[plain])
    ip = identifiers.is_ip
    uf.union_groups(
        identifiers.report[ip],
        ip_windows(identifiers.key[ip], identifiers.seen_at[ip], settings.window_seconds),
    )
    return uf


def cluster_reports(
    reports: ReportTable, identifiers: IdentifierTable, settings: SubjectSettings
) -> IntArray:
    """The subject id (smallest report id of the subject) of every report."""
    uf = link_reports(len(reports), identifiers, settings)
    return reports.report_id[uf.labels()]


def earlier_reports(
    report_subject: IntArray, received_at: IntArray, report_id: IntArray
) -> IntArray:
    """For every report, how many reports of its subject came before it (time, then id)."""
    n = report_subject.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((report_id, received_at, report_subject))
    subjects = report_subject[order]
    start = np.ones(n, dtype=np.bool_)
    start[1:] = subjects[1:] != subjects[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    return rank


def summarise(
    reports: ReportTable,
    files: FileTable,
    report_subject: IntArray,
    subjects: IntArray | None = None,
) -> pl.DataFrame:
    """One row per subject: reports, files, providers, first and last report, priorCTReports
    (only for ``subjects`` when given)."""
    rows = (
        np.arange(len(reports), dtype=np.int64)
        if subjects is None
        else np.flatnonzero(members(report_subject, subjects)).astype(np.int64)
    )
    file_counts = np.bincount(files.report, minlength=len(reports))
    frame = pl.DataFrame(
        {
            "subject": report_subject[rows],
            "received_at": reports.received_at[rows],
            "provider": reports.provider[rows],
            "files": file_counts[rows],
            "prior_ct_reports": reports.signal("prior_ct_reports")[rows],
        }
    )
    return (
        frame.group_by("subject")
        .agg(
            pl.len().alias("reports"),
            pl.col("files").sum().alias("files"),
            pl.col("provider").unique().sort().alias("providers"),
            pl.col("received_at").min().alias("first_report"),
            pl.col("received_at").max().alias("last_report"),
            pl.col("prior_ct_reports").sum().alias("prior_ct_reports"),
        )
        .sort("subject")
    )


@dataclass(frozen=True)
class SubjectIndex:
    """What earlier runs leave behind: every plain identifier code with its subject, and every IP
    sighting (code, time) with its subject."""

    key: IntArray
    key_subject: IntArray
    ip_key: IntArray
    ip_seen_at: IntArray
    ip_subject: IntArray

    @staticmethod
    def empty() -> SubjectIndex:
        none = np.zeros(0, dtype=np.int64)
        return SubjectIndex(none, none, none, none, none)

    @staticmethod
    def build(identifiers: IdentifierTable, report_subject: IntArray) -> SubjectIndex:
        plain = ~identifiers.is_ip
        keys, first = np.unique(identifiers.key[plain], return_index=True)
        subjects = report_subject[identifiers.report[plain]][first]
        ip = identifiers.is_ip
        return SubjectIndex(
            keys.astype(np.int64),
            subjects,
            identifiers.key[ip],
            identifiers.seen_at[ip],
            report_subject[identifiers.report[ip]],
        )

    def updated(
        self,
        identifiers: IdentifierTable,
        report_subject: IntArray,
        new_reports: np.ndarray,
        merges: dict[int, int],
    ) -> SubjectIndex:
        """The index after a pass that placed the reports where ``new_reports`` holds (a mask
        over reports; ``report_subject``: every report's subject after the pass; ``merges``:
        earlier subjects merged into others). New identifier codes are appended (kept sorted)."""
        of_new = new_reports[identifiers.report]
        plain = of_new & ~identifiers.is_ip
        keys, first = np.unique(identifiers.key[plain], return_index=True)
        subjects = report_subject[identifiers.report[plain]][first]
        fresh = ~np.isin(keys, self.key)
        key = np.concatenate([self.key, keys[fresh]])
        key_subject = np.concatenate([remap(self.key_subject, merges), subjects[fresh]])
        if key.size > 1 and not bool(np.all(np.diff(key) > 0)):
            order = np.argsort(key, kind="stable")
            key, key_subject = key[order], key_subject[order]
        ip = of_new & identifiers.is_ip
        return SubjectIndex(
            key.astype(np.int64),
            key_subject.astype(np.int64),
            np.concatenate([self.ip_key, identifiers.key[ip]]),
            np.concatenate([self.ip_seen_at, identifiers.seen_at[ip]]),
            np.concatenate(
                [remap(self.ip_subject, merges), report_subject[identifiers.report[ip]]]
            ).astype(np.int64),
        )


@dataclass(frozen=True)
class SubjectUpdate:
    report_subject: IntArray
    merges: dict[int, int]


def _same_partition(a: IntArray, b: IntArray) -> bool:
    """Whether labels ``a`` and ``b`` (of the same elements) group them alike."""
    pairs = int(np.unique(np.stack([a, b]), axis=1).shape[1])
    return pairs == int(np.unique(a).shape[0]) == int(np.unique(b).shape[0])


def place_reports(
    index: SubjectIndex,
    reports: ReportTable,
    identifiers: IdentifierTable,
    settings: SubjectSettings,
    ambiguous: IntArray,
) -> SubjectUpdate | None:
    """Link new reports to earlier subjects and to each other; as clustering everything again
    would, provided new report ids are larger than every earlier one. ``ambiguous``: the
    screen-name keys that link nothing (``ambiguous_screen_names`` of all reports, earlier and
    new; the caller makes sure none of them linked earlier reports). None when the new reports
    cannot be placed by adding links: a new sighting of an address before its earlier ones can
    move where that address's windows begin, which would undo links between earlier reports."""
    k = len(reports)
    plain = _plain(identifiers, ambiguous)
    left: list[IntArray] = []
    subject: list[IntArray] = []
    if index.key.size and plain.any():
        keys = identifiers.key[plain]
        pos = np.clip(np.searchsorted(index.key, keys), 0, index.key.size - 1)
        hit = index.key[pos] == keys
        left.append(identifiers.report[plain][hit])
        subject.append(index.key_subject[pos[hit]])
    ip = identifiers.is_ip
    ip_keys = identifiers.key[ip]
    # Earlier sightings of the same addresses take part in the windows as nodes of their
    # subjects; sightings of other addresses cannot link anything new and stay out.
    relevant = np.isin(index.ip_key, ip_keys)
    old_keys, old_seen = index.ip_key[relevant], index.ip_seen_at[relevant]
    windows = ip_windows(
        np.concatenate([ip_keys, old_keys]),
        np.concatenate([identifiers.seen_at[ip], old_seen]),
        settings.window_seconds,
    )
    earlier_windows = ip_windows(old_keys, old_seen, settings.window_seconds)
    if not _same_partition(earlier_windows, windows[ip_keys.shape[0] :]):
        return None
    old_subject_of_ip = index.ip_subject[relevant]
    touched = np.concatenate([*subject, old_subject_of_ip]) if subject else old_subject_of_ip
    existing, inverse = np.unique(touched, return_inverse=True)
    n_plain = sum(s.shape[0] for s in subject)
    uf = UnionFind(k + existing.shape[0])
    if n_plain:
        uf.union_pairs(np.concatenate(left), k + inverse[:n_plain].astype(np.int64))
    uf.union_groups(identifiers.report[plain], identifiers.key[plain])
    nodes = np.concatenate([identifiers.report[ip], k + inverse[n_plain:].astype(np.int64)])
    uf.union_groups(nodes, windows)
    label = uf.labels(np.concatenate([reports.report_id, existing]))
    merges = merged_ids(existing, label[k:])
    return SubjectUpdate(report_subject=label[:k], merges=merges)
