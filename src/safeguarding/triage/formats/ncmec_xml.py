"""NCMEC CyberTipline XML: ``<report>`` and ``<fileDetails>`` documents.

Parsed only through defusedxml with DTDs forbidden: no entities, no external references, so
billion-laughs and external-entity documents are rejected before anything is expanded. A document
larger than the limit is rejected unread. Every field read is checked (length, date, enumeration,
hash form); the first broken rule rejects the document with its element path. Elements the schema
does not name are kept raw (sealed by the writer) and counted, never a crash.

The report id is taken from ``<reportId>`` (as in NCMEC exports and in ``<fileDetails>``), else
from the document's file name. The reporting provider is ``<reporter><espName>`` when present.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any, TypeVar
from xml.parsers import expat

import defusedxml.ElementTree as SafeET
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from safeguarding.disclosure.pseudonymise import IdentifierKind
from safeguarding.hashing.kinds import InvalidHashError, normalise_hash, parse_kind
from safeguarding.triage.formats.fields import (
    CLIENT_FIELDS,
    DEFAULT_MAX_LENGTH,
    MAX_LENGTHS,
    FieldError,
    bounded,
    clear_text,
    enum,
    parse_bool,
    parse_datetime,
    parse_int,
    report_id_of,
    url_host,
)
from safeguarding.triage.records import (
    BATCHED_REASONS,
    FILE_ANNOTATIONS,
    FILE_RELEVANCE,
    INCIDENT_TYPES,
    INDUSTRY_CLASSIFICATIONS,
    IP_EVENTS,
    REPORT_ANNOTATIONS,
    FileDetailsRecord,
    FileRecord,
    HashValue,
    Identifier,
    InternetDetail,
    Origin,
    Parsed,
    Party,
    Rejected,
    ReportRecord,
    Role,
)

T = TypeVar("T")

DEFAULT_MAX_DOCUMENT_BYTES = 5_000_000
ROOTS = ("report", "fileDetails")

_REPORT_CHILDREN = {
    "reportId", "batchedReport", "incidentSummary", "internetDetails", "lawEnforcement",
    "reporter", "personOrUserReported", "intendedRecipient", "victim", "additionalInfo",
}  # fmt: skip
_SUMMARY_CHILDREN = {
    "incidentType", "platform", "escalateToHighPriority", "reportAnnotations",
    "incidentDateTime", "incidentDateTimeDescription",
}  # fmt: skip
_IDENTITY_CHILDREN = {
    "personOrUserReportedPerson", "victimPerson", "intendedRecipientPerson", "vehicleDescription",
    "espIdentifier", "espService", "compromisedAccount", "screenName", "displayName", "profileUrl",
    "profileBio", "ipCaptureEvent", "deviceId", "thirdPartyUserReported", "priorCTReports",
    "priorCTReport", "groupIdentifier", "accountTemporarilyDisabled", "accountPermanentlyDisabled",
    "estimatedLocation", "allEmailsReported", "associatedAccount", "additionalInfo", "schoolName",
    "platform", "names", "firstName", "lastName", "approximateAge", "dateOfBirth", "phone",
    "email", "age",
}  # fmt: skip
_FILE_CHILDREN = {
    "reportId", "fileId", "fileName", "originalFileName", "uploadedToEspTimestamp",
    "locationOfFile", "fileViewedByEsp", "exifViewedByEsp", "publiclyAvailable", "fileRelevance",
    "potentialMeme", "fileAnnotations", "industryClassification", "originalFileHash",
    "ipCaptureEvent", "deviceId", "details", "additionalInfo",
}  # fmt: skip
# Elements that hold one value (besides every child of ``<incidentSummary>``): a reader takes
# the first of them, so a second one would be dropped unseen; it is refused instead. The
# CyberTipline schema gives a report's id, a person's ESP id, service and screen name, and a
# file's ids once each (display names, profile URLs, IP captures and device ids may repeat).
_SINGLE_REPORT = frozenset({"reportId", "incidentSummary"})
_SINGLE_IDENTITY = frozenset({"espIdentifier", "espService", "screenName"})
_SINGLE_FILE = frozenset({"reportId", "fileId"})
_PERSON_ELEMENTS: dict[str, tuple[Role, str]] = {
    "personOrUserReported": ("reported_user", "personOrUserReportedPerson"),
    "victim": ("victim", "victimPerson"),
    "intendedRecipient": ("intended_recipient", "intendedRecipientPerson"),
}
_INTERNET_KINDS = {
    "webPageIncident": "web_page",
    "emailIncident": "email",
    "newsgroupIncident": "newsgroup",
    "chatImIncident": "chat_im",
    "onlineGamingIncident": "online_gaming",
    "cellPhoneIncident": "cell_phone",
    "nonInternetIncident": "non_internet",
    "peer2peerIncident": "peer2peer",
}
_INTERNET_KIND_SET = frozenset(_INTERNET_KINDS)
_REPORT_ANNOTATION_SET = frozenset(REPORT_ANNOTATIONS)
_FILE_ANNOTATION_SET = frozenset(FILE_ANNOTATIONS)
_ROOT_SNIFF = re.compile(rb"<\s*(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")


def sniff_root(data: bytes) -> str | None:
    """The root element name of an XML document, read from its first bytes without parsing
    (comments, processing instructions and a DOCTYPE are skipped); None if none is found."""
    head = data[:4096]
    head = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.DOTALL)
    found = _ROOT_SNIFF.search(head)
    return found.group(1).decode("ascii", "replace") if found else None


class _RejectError(Exception):
    def __init__(self, path: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.path, self.rule, self.message = path, rule, message


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# defusedxml's hardened parser, built once per process for its refusal handlers: they only raise
# (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) and keep no state, so each
# document's own expat parser gets exactly these. Building the whole hardened parser per document
# (defusedxml's pure-Python ``XMLParser`` and its tree builder) cost more than parsing a small
# document.
_HARDENED = SafeET.DefusedXMLParser(
    target=ET.TreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
).parser
_REFUSALS = (
    "StartDoctypeDeclHandler",
    "EntityDeclHandler",
    "UnparsedEntityDeclHandler",
    "ExternalEntityRefHandler",
)
_REFUSAL_HANDLERS = tuple((name, getattr(_HARDENED, name)) for name in _REFUSALS)


def _safe_tree(data: bytes) -> ET.Element:
    """The document's element tree, read by an expat parser set up as defusedxml's hardened
    parser is (the same namespace form, and defusedxml's handlers that refuse DTDs, entity
    declarations and external references while the document is read), with the elements built
    by the C ``TreeBuilder`` straight from expat's callbacks: the pure-Python tree building
    defusedxml otherwise does per element costs twice the parse itself. Namespaced tags arrive
    as ``uri}local`` (expat's form); ``_local`` reads both forms."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(None, "}")
    for name, handler in _REFUSAL_HANDLERS:
        setattr(parser, name, handler)
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        error = ET.ParseError(str(exc))
        error.position = (exc.lineno, exc.offset)
        raise error from exc
    except LookupError as exc:  # an encoding Python does not know, named in the declaration
        error = ET.ParseError(f"unknown encoding in the XML declaration: {exc}")
        error.position = (1, 0)
        raise error from exc
    return builder.close()


def _localise(root: ET.Element) -> dict[int, str]:
    """Give every element of a namespaced document its local name (the readers look children up
    by local name with ElementTree's compiled ``find``); returns the qualified names by element,
    so that unknown elements can be kept as written."""
    qualified: dict[int, str] = {}
    for item in root.iter():
        if "}" in item.tag:
            qualified[id(item)] = item.tag
            item.tag = _local(item.tag)
    return qualified


def _raw(element: ET.Element, qualified: dict[int, str]) -> bytes:
    """An element as XML text, its namespaced names given back their ``{uri}`` form."""
    for item in element.iter():
        tag = qualified.get(id(item), item.tag)
        if "}" in tag and tag[:1] != "{":
            tag = "{" + tag
        item.tag = tag
        for name in [n for n in item.attrib if "}" in n and n[:1] != "{"]:
            item.attrib["{" + name] = item.attrib.pop(name)
    return ET.tostring(element)


@dataclass
class _Doc:
    """Reading state of one document: the unknown elements met so far, and the qualified names
    of a namespaced document's elements."""

    unknown: list[tuple[str, bytes]] = field(default_factory=list)
    qualified: dict[int, str] = field(default_factory=dict)

    def children(
        self,
        element: ET.Element,
        path: str,
        known: AbstractSet[str],
        single: AbstractSet[str] = frozenset(),
    ) -> list[ET.Element]:
        """The children of ``element`` whose names are ``known`` (the others are kept raw).

        A second child named in ``single`` is refused (``repeated_element``, at its path): the
        readers take the first of a single-valued element (``find``), and a second one would
        be dropped unseen. The check rides on this walk over the children, which every document
        takes anyway, rather than a walk of its own."""
        kept = []
        seen: set[str] = set()
        for child in element:
            tag = child.tag
            if tag in known:
                if tag in single:
                    if tag in seen:
                        raise _RejectError(
                            f"{path}/{tag}[1]",
                            "repeated_element",
                            f"<{tag}> is given more than once; it holds one value",
                        )
                    seen.add(tag)
                kept.append(child)
            else:
                self.unknown.append((f"{path}/{tag}", _raw(child, self.qualified)))
        return kept


def _text(element: ET.Element) -> str:
    if not len(element):
        return element.text or ""
    return "".join(element.itertext())


def _checked(path: str, name: str, check: Callable[..., T], *args: Any) -> T:
    """``check(*args)``, with a broken field rule turned into a rejection at ``path/name``."""
    try:
        return check(*args)
    except FieldError as exc:
        raise _RejectError(f"{path}/{name}", exc.rule, str(exc)) from exc


def _str(element: ET.Element, name: str, path: str) -> str | None:
    found = element.find(name)
    if found is None:
        return None
    text = (found.text or "" if not len(found) else "".join(found.itertext())).strip()
    if len(text) > MAX_LENGTHS.get(name, DEFAULT_MAX_LENGTH):
        _checked(path, name, bounded, name, text)  # raises the field's length rule
    return text or None


def _clear_str(element: ET.Element, name: str, path: str) -> str | None:
    """``_str`` of a child stored in clear (a provider, platform, region, client): refused if
    it holds an identifier (``clear_text``)."""
    text = _str(element, name, path)
    if text is not None:
        _checked(path, name, clear_text, name, text)
    return text


def _bool(element: ET.Element, name: str, path: str) -> bool | None:
    """An ``xs:boolean`` element. Empty, it is refused: an annotation flag is true by being
    there (``<viral/>``), but ``<fileViewedByEsp/>`` says neither yes nor no, and read as yes it
    would claim that a person at the provider looked at the file."""
    found = element.find(name)
    if found is None:
        return None
    text = _text(found)
    if not text.strip():
        raise _RejectError(f"{path}/{name}", "bad_boolean", f"<{name}> is empty: true or false")
    return _checked(path, name, parse_bool, name, text)


def _datetime_of(element: ET.Element, name: str, path: str) -> datetime | None:
    found = element.find(name)
    if found is None:
        return None
    return _checked(path, name, parse_datetime, name, _text(found))


def parse_document(
    data: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
) -> Parsed:
    """One XML document (``name`` is its file or zip member name) as a record or a rejection."""
    if len(data) > max_bytes:
        return Rejected(
            name,
            "document_too_large",
            f"{name}: document has {len(data)} bytes, at most {max_bytes} allowed",
            data[:max_bytes],
        )
    try:
        root = _safe_tree(data)
    except DTDForbidden:
        return _rejected(data, name, "", "xml_dtd_forbidden", "DTDs are not accepted (XML bombs)")
    except EntitiesForbidden:
        return _rejected(data, name, "", "xml_entities_forbidden", "entity declarations refused")
    except ExternalReferenceForbidden:
        return _rejected(data, name, "", "xml_external_reference", "external references refused")
    except ET.ParseError as exc:
        line, column = exc.position
        return _rejected(
            data, f"{name}:{line}:{column}", "", "xml_malformed", f"not well-formed XML ({exc})"
        )
    qualified = _localise(root) if b"xmlns" in data else {}
    root_name = root.tag
    if root_name not in ROOTS:
        return _rejected(
            data, name, f"/{root_name}", "wrong_root",
            f"root element is <{root_name}>, expected <report> or <fileDetails>",
        )  # fmt: skip
    doc = _Doc(qualified=qualified)
    try:
        if root_name == "report":
            return _report(root, doc, name, (name, data))
        return _file_details(root, doc, (name, data))
    except _RejectError as exc:
        return _rejected(data, name, exc.path, exc.rule, exc.message, _report_id_of(root))
    except RecursionError:  # an unknown element nested thousands deep, kept as written
        return _rejected(
            data, name, "", "xml_too_deep", "elements nested too deeply", _report_id_of(root)
        )


def _rejected(
    data: bytes, name: str, path: str, rule: str, message: str, report_id: str | None = None
) -> Rejected:
    location = f"{name}:{path}" if path else name
    kind = "file_details" if sniff_root(data) == "fileDetails" else "report"
    return Rejected(location, rule, f"{location}: {message}", data, kind, report_id)


def _report_id_of(root: ET.Element) -> str | None:
    found = root.find("reportId")
    return report_id_of(_text(found)) if found is not None else None


def _report(root: ET.Element, doc: _Doc, name: str, origin: Origin) -> ReportRecord:
    path = "/report"
    children = doc.children(root, path, _REPORT_CHILDREN, _SINGLE_REPORT)
    report_id = _str(root, "reportId", path)
    if report_id is None:
        # Only a report without <reportId> takes its file's name; an empty one is refused.
        if root.find("reportId") is not None:
            raise _RejectError(f"{path}/reportId", "missing_element", "<reportId> is empty")
        report_id = PurePath(name).stem
    if len(report_id) > 64:
        raise _RejectError(f"{path}/reportId", "too_long", "report id longer than 64 characters")
    summary = root.find("incidentSummary")
    if summary is None:
        raise _RejectError(
            f"{path}/incidentSummary", "missing_element", "<incidentSummary> missing"
        )
    spath = f"{path}/incidentSummary"
    doc.children(summary, spath, _SUMMARY_CHILDREN, _SUMMARY_CHILDREN)
    incident_type = _str(summary, "incidentType", spath)
    if incident_type is not None:
        _checked(spath, "incidentType", enum, "incidentType", incident_type, INCIDENT_TYPES)
    if summary.find("incidentDateTime") is None:
        raise _RejectError(
            f"{spath}/incidentDateTime", "missing_element", "<incidentDateTime> missing"
        )
    incident_time = _datetime_of(summary, "incidentDateTime", spath)
    escalation = _str(summary, "escalateToHighPriority", spath)
    escalated = summary.find("escalateToHighPriority") is not None
    _str(summary, "incidentDateTimeDescription", spath)
    annotations = _annotations(summary, doc, spath)
    batched = root.find("batchedReport")
    batched_reason = None
    if batched is not None:
        reason = batched.get("reason", "")
        batched_reason = _checked(
            f"{path}/batchedReport", "@reason", enum, "reason", reason, BATCHED_REASONS
        )
    reporter = root.find("reporter")
    provider = _clear_str(reporter, "espName", f"{path}/reporter") if reporter is not None else None
    parties = []
    seen: dict[str, int] = {}
    for child in children:
        tag = child.tag
        if tag in _PERSON_ELEMENTS:
            index = seen[tag] = seen.get(tag, -1) + 1
            parties.append(_party(child, *_PERSON_ELEMENTS[tag], doc, f"{path}/{tag}[{index}]"))
    details = [
        _internet_detail(child, doc, f"{path}/internetDetails[{i}]")
        for i, child in enumerate(root.findall("internetDetails"))
    ]
    return ReportRecord(
        provider_report_id=report_id,
        format="ncmec_xml",
        incident_type=incident_type,
        incident_time=incident_time,
        provider=provider,
        platform=_clear_str(summary, "platform", spath),
        escalation_text_length=len(escalation) if escalation is not None else None,
        escalated=escalated,
        annotations=annotations,
        batched_reason=batched_reason,
        parties=tuple(parties),
        internet_details=tuple(d for d in details if d is not None),
        unknown_elements=tuple(doc.unknown),
        origin=origin,
    )


def _annotations(summary: ET.Element, doc: _Doc, spath: str) -> frozenset[str]:
    block = summary.find("reportAnnotations")
    if block is None:
        return frozenset()
    apath = f"{spath}/reportAnnotations"
    found = set()
    for child in doc.children(block, apath, _REPORT_ANNOTATION_SET):
        name = child.tag
        if _checked(apath, name, parse_bool, name, _text(child)):
            found.add(name)
    return frozenset(found)


def _ip_events(element: ET.Element, path: str) -> list[Identifier]:
    events = []
    for i, capture in enumerate(element.findall("ipCaptureEvent")):
        cpath = f"{path}/ipCaptureEvent[{i}]"
        address = _str(capture, "ipAddress", cpath)
        if address is None:
            continue
        event = _str(capture, "eventName", cpath)
        if event is not None:
            _checked(cpath, "eventName", enum, "eventName", event, IP_EVENTS)
        when = _datetime_of(capture, "dateTime", cpath)
        events.append(Identifier("ip", address, "", event, when))
    return events


def _device_ids(element: ET.Element, path: str) -> list[Identifier]:
    found = []
    for i, device in enumerate(element.findall("deviceId")):
        dpath = f"{path}/deviceId[{i}]"
        value = _str(device, "idValue", dpath)
        if value is None:
            continue
        when = _datetime_of(device, "dateTime", dpath)
        scope = (_str(device, "idType", dpath) or "").upper()
        if scope:
            _checked(dpath, "idType", clear_text, "idType", scope)
        # The capture event is stored in clear: one of the schema's events, never free text.
        event = _str(device, "eventName", dpath)
        if event is not None:
            _checked(dpath, "eventName", enum, "eventName", event, IP_EVENTS)
        found.append(Identifier("device_id", value, scope, event, when))
    return found


def _contact_identifiers(element: ET.Element, path: str) -> list[Identifier]:
    found: list[Identifier] = []
    kinds: tuple[tuple[str, IdentifierKind], ...] = (("email", "email"), ("phone", "phone"))
    for tag, kind in kinds:
        for i, item in enumerate(element.findall(tag)):
            value = _checked(path, f"{tag}[{i}]", bounded, tag, _text(item))
            if value:
                found.append(Identifier(kind, value))
    return found


def _party(element: ET.Element, role: Role, person_tag: str, doc: _Doc, path: str) -> Party:
    doc.children(element, path, _IDENTITY_CHILDREN, _SINGLE_IDENTITY)
    service = _clear_str(element, "espService", path) or ""
    identifiers: list[Identifier] = []
    age: int | None = None
    person = element.find(person_tag) if person_tag else None
    if person is not None:
        ppath = f"{path}/{person_tag}"
        identifiers += _contact_identifiers(person, ppath)
        age_text = _str(person, "age", ppath)
        if age_text is not None:
            age = _checked(ppath, "age", parse_int, "age", age_text, 0, 130)
    identifiers += _contact_identifiers(element, path)
    scoped: tuple[tuple[str, IdentifierKind], ...] = (
        ("espIdentifier", "esp_id"),
        ("screenName", "screen_name"),
    )
    for tag, kind in scoped:
        value = _str(element, tag, path)
        if value is not None:
            identifiers.append(Identifier(kind, value, service))
    identifiers += _ip_events(element, path) + _device_ids(element, path)
    prior = element.findall("priorCTReports") + element.findall("priorCTReport")
    for i, item in enumerate(prior):
        _checked(path, f"priorCTReports[{i}]", parse_int, "priorCTReports", _text(item))
    country = region = None
    location = element.find("estimatedLocation")
    if location is not None:
        lpath = f"{path}/estimatedLocation"
        country = _clear_str(location, "countryCode", lpath)
        region = _clear_str(location, "region", lpath)
        country = country.upper() if country else None
    associated = tuple(
        _party(child, "associated_account", "", doc, f"{path}/associatedAccount[{i}]")
        for i, child in enumerate(element.findall("associatedAccount"))
    )
    if age is None and (approximate := _str(element, "approximateAge", path)) is not None:
        age = _checked(path, "approximateAge", parse_int, "approximateAge", approximate, 0, 130)
    return Party(
        role=role,
        esp_service=service or None,
        age=age,
        compromised_account=_bool(element, "compromisedAccount", path),
        account_temporarily_disabled=_bool(element, "accountTemporarilyDisabled", path),
        account_permanently_disabled=_bool(element, "accountPermanentlyDisabled", path),
        prior_ct_reports_count=len(prior),
        location_country=country,
        location_region=region,
        identifiers=tuple(identifiers),
        associated=associated,
    )


def _internet_detail(element: ET.Element, doc: _Doc, path: str) -> InternetDetail | None:
    inner = doc.children(element, path, _INTERNET_KIND_SET)
    if not inner:
        return None
    child = inner[0]
    kind = _INTERNET_KINDS[child.tag]
    cpath = f"{path}/{child.tag}"
    client = next(
        (v for tag in CLIENT_FIELDS if (v := _clear_str(child, tag, cpath)) is not None), None
    )
    hosts = []
    for i, url in enumerate(child.findall("url")):
        host = url_host(_checked(cpath, f"url[{i}]", bounded, "url", _text(url)))
        if host:
            hosts.append(_checked(cpath, f"url[{i}]", clear_text, "url host", host))
    identifiers = [
        Identifier("email", _checked(cpath, "emailAddress", bounded, "email", _text(e)))
        for e in child.findall("emailAddress")
        if _text(e).strip()
    ]
    phone = _str(child, "phoneNumber", cpath)
    if phone:
        identifiers.append(Identifier("phone", phone))
    identifiers += _ip_events(child, cpath)
    third_party = child.get("thirdPartyHostedContent")
    return InternetDetail(
        kind=kind,
        client=client,
        url_hosts=tuple(sorted(set(hosts))),
        third_party_hosted=(
            _checked(cpath, "@thirdPartyHostedContent", parse_bool, "third party", third_party)
            if third_party is not None
            else None
        ),
        identifiers=tuple(identifiers),
    )


def _hashes(root: ET.Element, doc: _Doc, path: str) -> list[HashValue]:
    hashes: list[HashValue] = []
    for i, item in enumerate(root.findall("originalFileHash")):
        _add_hash(hashes, doc, item.get("hashType", ""), _text(item), path, i)
    for i, block in enumerate(root.findall("details")):
        if block.get("type", "").upper() != "HASH":
            continue
        for j, pair in enumerate(block.findall("nameValuePair")):
            name_el, value_el = pair.find("name"), pair.find("value")
            if name_el is not None and value_el is not None:
                _add_hash(hashes, doc, _text(name_el), _text(value_el), path, i, j)
    return hashes


def _add_hash(
    hashes: list[HashValue], doc: _Doc, type_name: str, value: str, path: str, *where: int
) -> None:
    """A hash of the file, or an unknown hash type kept raw; ``where``: the index of its
    ``originalFileHash``, or of its ``details`` block and name-value pair (the location is
    written out only when it is needed)."""
    kind = parse_kind(type_name)
    if kind is None:
        doc.unknown.append(
            (f"{_hash_location(path, *where)}[@hashType={type_name[:32]}]", value.encode()[:512])
        )
        return
    try:
        hashes.append(HashValue(kind, normalise_hash(kind, value)))
    except InvalidHashError as exc:
        raise _RejectError(_hash_location(path, *where), exc.rule, str(exc)) from exc


def _hash_location(path: str, index: int, pair: int | None = None) -> str:
    if pair is None:
        return f"{path}/originalFileHash[{index}]"
    return f"{path}/details[{index}]/nameValuePair[{pair}]"


def _file_details(root: ET.Element, doc: _Doc, origin: Origin) -> FileDetailsRecord:
    path = "/fileDetails"
    doc.children(root, path, _FILE_CHILDREN, _SINGLE_FILE)
    report_id = _str(root, "reportId", path)
    file_id = _str(root, "fileId", path)
    if report_id is None:
        raise _RejectError(f"{path}/reportId", "missing_element", "<reportId> missing")
    if file_id is None:
        raise _RejectError(f"{path}/fileId", "missing_element", "<fileId> missing")
    relevance = _str(root, "fileRelevance", path)
    if relevance is not None:
        _checked(path, "fileRelevance", enum, "fileRelevance", relevance, FILE_RELEVANCE)
    classification = _str(root, "industryClassification", path)
    if classification is not None:
        _checked(
            path, "industryClassification", enum, "industryClassification", classification,
            INDUSTRY_CLASSIFICATIONS,
        )  # fmt: skip
    annotations: set[str] = set()
    block = root.find("fileAnnotations")
    if block is not None:
        apath = f"{path}/fileAnnotations"
        for child in doc.children(block, apath, _FILE_ANNOTATION_SET):
            name = child.tag
            if _checked(apath, name, parse_bool, name, _text(child)):
                annotations.add(name)
    if _bool(root, "potentialMeme", path):
        annotations.add("potentialMeme")
    record = FileRecord(
        provider_file_id=file_id,
        file_name=_str(root, "fileName", path),
        uploaded_at=_datetime_of(root, "uploadedToEspTimestamp", path),
        file_relevance=relevance,
        viewed_by_esp=_bool(root, "fileViewedByEsp", path),
        exif_viewed_by_esp=_bool(root, "exifViewedByEsp", path),
        publicly_available=_bool(root, "publiclyAvailable", path),
        annotations=frozenset(annotations),
        industry_classification=classification,
        hashes=tuple(_hashes(root, doc, path)),
        identifiers=tuple(_ip_events(root, path) + _device_ids(root, path)),
    )
    return FileDetailsRecord(report_id, record, tuple(doc.unknown), origin)
