"""Calibration: the model against published figures, and the model fed with observed rates.

Two kinds of calibration live here.

1. **Checks against published figures.** Each check builds funnel inputs from values in the
   evidence base, runs the real funnel, and compares what comes out with what was published, within
   a stated tolerance. Nothing is copied: change an evidence value and the check follows.
2. **Observed rates replace defaults.** ``calibrate`` takes triage's outcome statistics and replaces
   the parameters they measure; ``scope_to_services`` takes the platform register's high-risk
   export and replaces the volumes. Each replacement is recorded on the scenario with what it
   replaced and why, so every output can say where its inputs came from. Triage's figures come
   in two takes (``TriageFigures``): all of them for the triage team, and for a run that is
   stored, and so shown to researchers, only those the triage section publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from safeguarding.assess.distributions import Distribution, beta_from_counts, beta_from_moments
from safeguarding.assess.exports import LevelMix, Mean, Rate, ServicesExport, TriageStats
from safeguarding.assess.funnel import DAYS_PER_YEAR, Value, run_funnel
from safeguarding.assess.montecarlo import interval, parameter_stream
from safeguarding.assess.scenario import PARAMETERS, Observation, Scenario, Source
from safeguarding.errors import ValidationError
from safeguarding.evidence import EvidenceValue, shipped_evidence
from safeguarding.statistics import wilson

CHECK_DRAWS = 20_000


@dataclass(frozen=True)
class Check:
    """One published figure and what the model makes of the inputs it came with.

    ``tag`` is the weakest own tag (``tag_of_values``) of every evidence value the row compares
    with or feeds in, directly or through a fitted distribution, not the figure's: fedpol's 2024
    counts were read only in a newspaper (S), and every fedpol row rests on the forwarded share
    fitted to all years, 2024 included, so every fedpol row is S.

    Only numbers the source states sit under "published": ``published`` when it states one number,
    ``published_range`` when it states only bounds (fedpol's "7–20%"; no midpoint is made up).
    ``model`` is the model's median and ``low``–``high`` its own 90% interval over the draws; a
    check that computes one exact value (no uncertain input) has no interval, so ``low`` and
    ``high`` are None rather than a repetition of the value that would read as an interval.
    """

    name: str
    evidence: str
    tag: str
    published: float | None
    model: float
    low: float | None
    high: float | None
    tolerance: str
    passed: bool
    published_range: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(vars(self))

    def published_text(self) -> str:
        """What the source published: the number, or the range when it gives only bounds."""
        if self.published_range is not None:
            low, high = self.published_range
            return f"range {low:,.4g}–{high:,.4g}"
        return "–" if self.published is None else f"{self.published:,.4g}"

    def model_text(self) -> str:
        """The model's median, or the value of an exact computation, said as such."""
        kind = "exact" if self.low is None else "median"
        return f"{kind} {self.model:,.4g}"

    def interval_text(self) -> str:
        """The model's own 90% interval, or why there is none."""
        if self.low is None or self.high is None:
            return "none (exact computation)"
        return f"{self.low:,.4g}–{self.high:,.4g}"


def passthrough(notifications: Value, ppv: Value) -> dict[str, Value]:
    """Funnel inputs that deliver ``notifications`` a year with the given PPV to the central body.

    Every detection and review stage is switched to identity, so the central and police stages can
    be compared with what central bodies publish about the notifications they receive.
    """
    params: dict[str, Value] = {name: 0.0 for name in PARAMETERS}
    params |= {
        "volume.images_per_day": np.asarray(notifications, dtype=np.float64) / DAYS_PER_YEAR,
        "volume.scope_share": 1.0,
        "detection.known.coverage": 1.0,
        "detection.known.prevalence": ppv,
        "detection.known.sensitivity": 1.0,
        "detection.known.false_positive_rate": 1.0,
        "review.items_per_report": 1.0,
        "review.accounts_per_report": 1.0,
        "central.bundling_ratio": 1.0,
        "central.unfounded_removed": 1.0,
        "central.jurisdiction_share": 1.0,
        "police.minutes_per_notification": 1.0,
        "police.hours_per_investigation": 1.0,
    }
    return params


def scientists_example() -> Check:
    """140 bn messages a day, 1 in 100 tested at 0.1% false positives: 1.4 M a day."""
    figure = shipped_evidence().get("scientists.whatsapp.2024")
    params: dict[str, Value] = {name: 0.0 for name in PARAMETERS}
    params |= {
        "volume.messages_per_day": figure.value("messages_per_day").value,
        "volume.scope_share": 1.0,
        "detection.grooming.coverage": figure.value("tested_share").value,
        "detection.grooming.false_positive_rate": figure.value("false_positive_rate").value,
        "review.items_per_report": 1.0,
        "review.accounts_per_report": 1.0,
        "central.bundling_ratio": 1.0,
        "police.minutes_per_notification": 1.0,
        "police.hours_per_investigation": 1.0,
    }
    per_day = float(run_funnel(params, size=1).outputs["false_items_flagged"][0]) / DAYS_PER_YEAR
    published = figure.value("false_positives_per_day")
    used = [
        figure.value(name) for name in ("messages_per_day", "tested_share", "false_positive_rate")
    ]
    return Check(
        "false positives a day (scientists' example)",
        figure.id,
        figure.tag_of_values([*used, published]),
        published.value,
        per_day,
        None,
        None,
        "within 0.5%",
        abs(per_day - published.value) <= 0.005 * published.value,
    )


def yearly_values(figure_id: str, part: str) -> dict[int, tuple[EvidenceValue, EvidenceValue]]:
    """{year: (received, part)} values of a figure with per-year ``received`` and ``part``."""
    figure = shipped_evidence().get(figure_id)
    years = sorted({v.year for v in figure.values if v.name == part and v.year is not None})
    return {y: (figure.value("received", y), figure.value(part, y)) for y in years}


def yearly_shares(figure_id: str, part: str) -> dict[int, tuple[float, float]]:
    """{year: (received, part)} for a figure with per-year ``received`` and ``part`` values."""
    return {
        year: (received.value, value.value)
        for year, (received, value) in yearly_values(figure_id, part).items()
    }


def fedpol_share_values() -> list[EvidenceValue]:
    """Every value the fitted forwarded share rests on: each year's received and forwarded."""
    return [v for pair in yearly_values("ch.fedpol.ncmec", "forwarded").values() for v in pair]


def fedpol_share_distribution() -> Distribution:
    """The forwarded share fedpol applies, as a beta fitted to its yearly shares (moments)."""
    shares = np.array([f / r for r, f in yearly_shares("ch.fedpol.ncmec", "forwarded").values()])
    return beta_from_moments(float(shares.mean()), float(shares.var(ddof=1)))


def fedpol_forwarded(seed: int = 1) -> list[Check]:
    """Each year's forwarded cases within the model's 90% interval, given that year's reports."""
    share = fedpol_share_distribution()
    draws = share.sample(parameter_stream(seed, "fedpol"), CHECK_DRAWS)
    checks = []
    figure = shipped_evidence().get("ch.fedpol.ncmec")
    # Each year's row feeds in that year's reports and compares with that year's cases, and its
    # interval comes from the share fitted to every year: all of those values set its tag.
    fitted = fedpol_share_values()
    for year, (received, forwarded) in yearly_shares("ch.fedpol.ncmec", "forwarded").items():
        result = run_funnel(passthrough(received, draws), size=CHECK_DRAWS)
        found = interval(result.outputs["forwarded"])
        checks.append(
            Check(
                f"fedpol cases forwarded {year}",
                figure.id,
                figure.tag_of_values(fitted),
                forwarded,
                found.median,
                found.low,
                found.high,
                "inside the 90% interval",
                found.low <= forwarded <= found.high,
            )
        )
    # fedpol publishes only the range 7–20%: the check sets the model's forwarded share (all
    # years' reports through the funnel) against those bounds, and shows no midpoint as published.
    bounds = [figure.value("forwarded_share_low"), figure.value("forwarded_share_high")]
    low, high = (v.value for v in bounds)
    received = sum(r for r, _ in yearly_shares("ch.fedpol.ncmec", "forwarded").values())
    result = run_funnel(passthrough(received, draws), size=CHECK_DRAWS)
    found = interval(result.outputs["forwarded"] / received)
    checks.append(
        Check(
            "fedpol forwarded share within the published 7–20%",
            figure.id,
            figure.tag_of_values([*bounds, *fitted]),
            None,
            found.median,
            found.low,
            found.high,
            "median between the published bounds",
            low <= found.median <= high,
            published_range=(low, high),
        )
    )
    return checks


def bka_relevant(seed: int = 1) -> list[Check]:
    """BKA's criminally relevant share per year, from its counts, against the published share."""
    figure = shipped_evidence().get("de.bka.ncmec")
    checks = []
    for year, (received, relevant) in yearly_shares("de.bka.ncmec", "criminally_relevant").items():
        share = beta_from_counts(int(relevant), int(received))
        draws = share.sample(parameter_stream(seed, f"bka{year}"), CHECK_DRAWS)
        result = run_funnel(passthrough(received, draws), size=CHECK_DRAWS)
        found = interval(result.outputs["forwarded"] / received)
        published = figure.value("criminally_relevant_share", year)
        counts = [figure.value("received", year), figure.value("criminally_relevant", year)]
        checks.append(
            Check(
                f"BKA criminally relevant share {year}",
                figure.id,
                figure.tag_of_values([*counts, published]),
                published.value,
                found.median,
                found.low,
                found.high,
                "median within 0.001 (the published rounding)",
                abs(found.median - published.value) <= 0.001,
            )
        )
    return checks


def ncmec_bundling() -> list[Check]:
    """NCMEC 2024: 29.2 M incidents bundled at ratio 0.70 give about 20.5 M reports, and back."""
    figure = shipped_evidence().get("ncmec.bundling.2024")
    used = [figure.value("incidents"), figure.value("reports"), figure.value("ratio")]
    tag = figure.tag_of_values(used)
    incidents, reports, ratio = (v.value for v in used)
    params = passthrough(incidents, 1.0) | {"central.bundling_ratio": ratio}
    modelled = float(run_funnel(params, size=1).outputs["notifications"][0])
    implied = reports / incidents
    return [
        Check(
            "NCMEC 2024 reports from incidents × bundling ratio",
            figure.id,
            tag,
            reports,
            modelled,
            None,
            None,
            "within 1% (the published counts are rounded)",
            abs(modelled - reports) <= 0.01 * reports,
        ),
        Check(
            "NCMEC 2024 bundling ratio from reports / incidents",
            figure.id,
            tag,
            ratio,
            implied,
            None,
            None,
            "within 0.01",
            abs(implied - ratio) <= 0.01,
        ),
    ]


def published_checks(seed: int = 1) -> list[Check]:
    """Every check against published figures."""
    return [scientists_example(), *fedpol_forwarded(seed), *bka_relevant(seed), *ncmec_bundling()]


QUEUE_SHARES = {level: f"queue.{level.lower()}_share" for level in ("P1", "P2", "P3")}
# The parameters ``calibrate`` sets from triage's figures.
TRIAGE_PARAMETERS = (
    "police.actionable_share",
    "police.minutes_per_notification",
    *QUEUE_SHARES.values(),
)
# triage.aggregates rounds each group's outcome hours to 4 decimals before publishing them.
PUBLISHED_HOURS_STEP = 1e-4


@dataclass(frozen=True)
class PublishedTriage:
    """The figures calibration could take as the triage section publishes them; None where it
    withholds them (``triage.aggregates``, turned into this at the edge that stores a run).

    ``outcomes``, ``actionable`` and ``not_criminal`` are the outcomes table's total and two of its
    column totals; ``hours`` each of its groups' hours (None unless every one is published);
    ``offender`` the offender queue's reports and ``levels`` its count at each level.
    """

    policy: str
    outcomes: int | None
    actionable: int | None
    not_criminal: int | None
    hours: tuple[float, ...] | None
    offender: int | None
    levels: dict[str, int | None]


@dataclass(frozen=True)
class TriageFigures:
    """The figures calibration takes from a triage export, each None where it is not taken.

    ``exact_figures`` takes every figure of the export: what the command line shows the triage
    team, who see the records anyway. ``published_figures`` takes only what the triage section
    publishes, for a run that is stored: the monitor report and the web app show a stored run to
    researchers, and its outputs give its inputs back (the queue's simulated arrivals per level
    come within a fraction of a report of each level's share), so an input the triage section
    withholds must not enter it at all. ``not_taken`` says, per parameter the export would set,
    why it keeps the scenario's value.
    """

    file: str
    origin: str
    outcomes: tuple[Rate, Rate] | None  # the shares actionable and not criminal
    minutes: Mean | None
    levels: LevelMix | None
    published: bool
    not_taken: tuple[tuple[str, str], ...] = ()


def exact_figures(stats: TriageStats) -> TriageFigures:
    """Every figure of the export, as it is."""
    return TriageFigures(
        file=Path(stats.file).name,
        origin=stats.describe(),
        outcomes=(stats.rates["actionable_share"], stats.rates["not_criminal_share"]),
        minutes=stats.minutes_per_report,
        levels=stats.levels,
        published=False,
    )


def _wilson_rate(successes: int, n: int) -> Rate:
    found = wilson(successes, n)
    return Rate(found.successes, found.n, found.value, found.low, found.high)


def _published_rates(stats: TriageStats, published: PublishedTriage) -> tuple[Rate, Rate] | None:
    """The shares actionable and not criminal, with their Wilson intervals, from the published
    outcome counts, where they are the export's."""
    n = stats.reports_with_outcome
    counts = [stats.rates[name].successes for name in ("actionable_share", "not_criminal_share")]
    if n == 0 or (published.outcomes, published.actionable, published.not_criminal) != (n, *counts):
        return None
    return _wilson_rate(counts[0], n), _wilson_rate(counts[1], n)


def _published_minutes(mean: Mean, published: PublishedTriage) -> Mean | None:
    """The mean minutes per outcome from the published hours of every group, where they add up
    to the export's minutes (within the rounding of what is published)."""
    if published.hours is None or mean.n == 0 or mean.n != published.outcomes:
        return None
    hours = sum(published.hours)
    slack = PUBLISHED_HOURS_STEP / 2 * len(published.hours) + 1e-9
    if abs(mean.mean * mean.n / 60 - hours) > slack:
        return None
    return Mean(hours * 60 / mean.n, mean.n)


def _published_mix(mix: LevelMix, published: PublishedTriage) -> LevelMix | None:
    """The level mix from the published count of every level in the offender queue, where they
    are the export's (to the nearest report: an export may round its shares)."""
    if published.policy != mix.policy or published.offender != mix.reports or mix.reports == 0:
        return None
    counts: dict[str, int] = {}
    for level, share in mix.shares.items():
        count = published.levels.get(level)
        if count is None or abs(share * mix.reports - count) >= 0.5:
            return None
        counts[level] = count
    return LevelMix(mix.policy, mix.reports, {lv: n / mix.reports for lv, n in counts.items()})


def published_figures(stats: TriageStats, published: PublishedTriage | None) -> TriageFigures:
    """The export's figures that the triage section publishes as they are, taken from there.

    A figure is taken where the export's counts are the published ones (the same outcomes, the
    same queue), and is then read from the published numbers: the outcome counts with their
    Wilson interval; the mean minutes from every group's published hours; the level mix only
    when every level's count in the offender queue is published, as the triage section shows
    waits only when every level stands alone. Anything else (withheld, or another period than
    the store's) keeps the scenario's value and says so, without saying which of the two it is.
    """
    file = Path(stats.file).name
    rates = minutes = mix = None
    if published is not None:
        rates = _published_rates(stats, published)
        if rates is not None:
            minutes = _published_minutes(stats.minutes_per_report, published)
        if stats.levels is not None:
            mix = _published_mix(stats.levels, published)
    not_taken: list[tuple[str, str]] = []
    if rates is None and stats.reports_with_outcome > 0:
        reason = "these outcome counts (all, actionable, not criminal)"
        not_taken.append(("police.actionable_share", reason))
    if minutes is None and stats.minutes_per_report.n > 0:
        reason = "the hours of every level's outcomes, from which this mean would follow"
        not_taken.append(("police.minutes_per_notification", reason))
    if mix is None and stats.levels is not None and stats.levels.reports > 0:
        reason = "the offender queue's count at every level, which the mix would give back"
        not_taken += [(name, reason) for name in QUEUE_SHARES.values()]
    return TriageFigures(
        file=file,
        origin=(
            f"triage outcomes {file} ({stats.period_from}–{stats.period_to}), as the triage "
            "section publishes them"
        ),
        outcomes=rates,
        minutes=minutes,
        levels=mix,
        published=True,
        not_taken=tuple(
            (
                name,
                f"not taken from {file}: the triage section does not publish {reason}, and a "
                "stored run is shown to researchers",
            )
            for name, reason in not_taken
        ),
    )


def _calibrate_outcomes(
    scenario: Scenario, actionable: Rate, not_criminal: Rate, origin: str
) -> Scenario:
    """The share actionable replaced, and the share with criminal content observed."""
    if not_criminal.n > 0:
        observation = Observation(
            "ppv_forwarded",
            1 - not_criminal.value,
            1 - not_criminal.high,
            1 - not_criminal.low,
            f"{origin}: 1 − not_criminal_share",
        )
        scenario = replace(scenario, observed=(*scenario.observed, observation))
    # The reader holds every rate to n = reports_with_outcome and their successes to at most n,
    # so the actionable reports are among those with criminal content.
    criminal = actionable.n - not_criminal.successes
    if criminal > 0:
        scenario = scenario.replace_parameter(
            "police.actionable_share",
            beta_from_counts(actionable.successes, criminal),
            Source(data=origin),
            f"observed {actionable.successes} actionable of {criminal} reports with criminal "
            f"content ({actionable.n} with an outcome, {not_criminal.successes} not criminal)",
        )
    return scenario


def calibrate(scenario: Scenario, figures: TriageFigures) -> Scenario:
    """Replace the parameters triage's outcome statistics measure, recording each replacement.

    - ``police.actionable_share`` (share of notifications with criminal content that are
      actionable): Beta(s + 1, n − s + 1) with s = actionable and n = reports with an outcome
      minus those found not criminal.
    - ``police.minutes_per_notification``: the observed mean minutes per report.
    - ``queue.p1_share`` … ``queue.p3_share``: the offender queue's level mix under the triage
      policy that set it, when the export carries one, so the queue simulation prioritises
      what triage prioritises.

    ``police.hours_per_investigation`` is kept, and the scenario says so: the export's
    ``hours_per_actionable`` is the assessment time an analyst recorded on the actionable reports
    (minutes / 60), which ``minutes_per_report`` already counts, not the effort of investigating
    them. Put in place of the investigation hours it would count those minutes twice and stand
    an hour or two of reading for a hundred hours of casework.

    A measure with no observations (n = 0) leaves its parameter as it was, and so does one the
    figures do not take (``TriageFigures.not_taken``, which says why). The observed share with
    criminal content (1 − not criminal) is kept as an observation of ``ppv_forwarded``, to be set
    beside the model's interval rather than replace anything: it checks the detection and
    filtering stages the outcome statistics cannot measure.
    """
    origin = figures.origin
    if figures.outcomes is not None:
        scenario = _calibrate_outcomes(scenario, *figures.outcomes, origin)
    minutes = figures.minutes
    if minutes is not None and minutes.n > 0 and minutes.mean > 0:
        scenario = scenario.replace_parameter(
            "police.minutes_per_notification",
            Distribution.fixed(minutes.mean),
            Source(data=origin),
            f"observed mean of {minutes.n} reports",
        )
    mix = figures.levels
    if mix is not None and mix.reports > 0:
        for level, name in QUEUE_SHARES.items():
            scenario = scenario.replace_parameter(
                name,
                Distribution.fixed(mix.shares[level]),
                Source(data=f"{origin}, levels under triage policy {mix.policy}"),
                f"share of {mix.reports} reports in the offender queue at {level}",
            )
    for name, reason in figures.not_taken:
        scenario = scenario.keep_parameter(name, reason)
    scenario = replace(scenario, triage_figures="published" if figures.published else "exact")
    return scenario.keep_parameter(
        "police.hours_per_investigation",
        f"{figures.file} has no investigation effort: its hours_per_actionable is the "
        "assessment time recorded on actionable reports, already in minutes_per_report",
    )


def scope_to_services(scenario: Scenario, export: ServicesExport) -> Scenario:
    """Scope detection to the exported high-risk services: their volumes replace the defaults.

    Known daily volumes are summed; for a service without a volume, its monthly active recipients
    enter ``volume.<kind>_users`` and are multiplied by the scenario's per-user assumption. A
    service with neither contributes nothing of that kind, and the replacement's reason names it,
    because a volume left out is an undercount the reader must be able to see.
    """
    origin = export.describe()
    for kind, users_param in (
        ("messages", "volume.message_users"),
        ("images", "volume.image_users"),
        ("videos", "volume.video_users"),
    ):
        known = [s for s in export.services if s.daily(kind) is not None]
        estimated = [s for s in export.services if s.daily(kind) is None and s.estimable(kind)]
        skipped = [s.id for s in export.services if not s.estimable(kind)]
        total = float(sum(s.daily(kind) or 0.0 for s in known))
        users = float(sum(s.monthly_active_recipients or 0 for s in estimated))
        per_user = scenario[f"volume.{kind}_per_user_per_day"]
        if estimated and per_user.location == "default":
            raise ValidationError(
                f"{Path(export.file).name}: {len(estimated)} services have no daily_{kind}; "
                f"scenario {scenario.name} needs volume.{kind}_per_user_per_day (a labelled "
                "assumption) to estimate their volume from their users",
                location=export.file,
                rule="volume or per-user assumption",
            )
        left_out = (
            f"; left out {len(skipped)} service(s) with neither daily_{kind} nor EU monthly "
            f"active recipients ({', '.join(skipped)})"
            if skipped
            else ""
        )
        scenario = scenario.replace_parameter(
            f"volume.{kind}_per_day",
            Distribution.fixed(total),
            Source(data=origin),
            f"sum of daily {kind} of {len(known)} services that report it{left_out}",
        )
        if estimated:
            scenario = scenario.replace_parameter(
                users_param,
                Distribution.fixed(users),
                Source(data=origin),
                f"monthly active recipients of {len(estimated)} services without daily {kind}, "
                f"times volume.{kind}_per_user_per_day",
            )
    return scenario.replace_parameter(
        "volume.scope_share",
        Distribution.fixed(1.0),
        Source(data=origin),
        "detection scoped to exactly the services in the file",
    )
