"""The timeline as a FHIR R4 ``collection`` Bundle of plain dicts (see ``docs/timeline.md``).

Resources: one ``Device``; an ``Observation`` per glucose reading (LOINC 99504-3, "Glucose
[Mass/volume] in Interstitial fluid", UCUM mg/dL); a ``MedicationAdministration`` per
bolus or temp-basal command (status from its confirmations); a ``Provenance`` per record
that a resource derives from, carrying the device's Ed25519 signature and the record hash.

The patient appears only as a logical reference by pseudonymous identifier: no Patient
resource and no patient data.  Resource ids are name-based UUIDs (RFC 4122 version 5) of
the device id and record hash, and the entries follow the timeline's chain order, so two
exports of the same data are byte-identical (:func:`fhir_bundle_bytes`).  This module
builds dicts only; it never imports a FHIR library.
"""

from __future__ import annotations

from datetime import timedelta

from medwarden.core.digests import canonical_json
from medwarden.telemetry.records import JsonObject, RecordType
from medwarden.telemetry.timeline import (
    CommandLink,
    DeviceDescription,
    LoopEpisode,
    Timeline,
    TimelineRecord,
    format_time,
)
from medwarden.telemetry.timeline.fhir_parts import (
    LOINC_CGM_GLUCOSE,
    SYSTEM_COMMAND_ID,
    SYSTEM_DEVICE_ID,
    SYSTEM_INTEGRITY,
    SYSTEM_PATIENT_REF,
    SYSTEM_RECORD,
    SYSTEM_RECORD_HASH,
    coding,
    device_resource,
    patient_ref,
    provenance_resource,
    record_identifier,
    reference,
    resource_id,
)

__all__ = [
    "LOINC_CGM_GLUCOSE",
    "SYSTEM_DEVICE_ID",
    "SYSTEM_INTEGRITY",
    "SYSTEM_PATIENT_REF",
    "SYSTEM_RECORD",
    "SYSTEM_RECORD_HASH",
    "fhir_bundle_bytes",
    "resource_id",
    "timeline_to_fhir_bundle",
]

_LOINC_DISPLAY = "Glucose [Mass/volume] in Interstitial fluid"
_UCUM = "http://unitsofmeasure.org"
_INSULIN_KINDS = frozenset({"bolus", "temp_basal"})
_MAX_TEMP_MIN = 7 * 24 * 60
"""Longest temp-basal duration given an end time; a larger one is shown without an end."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _observation(
    device: DeviceDescription, item: TimelineRecord, device_ref: JsonObject
) -> JsonObject:
    body = item.record.body
    glucose, quality = body.get("glucose_mg_dl"), body.get("quality", "ok")
    obs: JsonObject = {
        "resourceType": "Observation",
        "id": resource_id("Observation", device.device_id, item.record_hash),
        "identifier": [record_identifier(device.device_id, item)],
        "status": "preliminary" if quality == "warmup" else "final",
        "category": [
            {
                "coding": [
                    coding(
                        "http://terminology.hl7.org/CodeSystem/observation-category",
                        "laboratory",
                        "Laboratory",
                    )
                ]
            }
        ],
        "code": {
            "coding": [coding("http://loinc.org", LOINC_CGM_GLUCOSE, _LOINC_DISPLAY)],
            "text": "Glucose (CGM, interstitial fluid)",
        },
        "subject": patient_ref(device),
        "effectiveDateTime": format_time(item.record.device_time),
        "device": device_ref,
    }
    if _is_number(glucose) and quality in ("ok", "warmup"):
        obs["valueQuantity"] = {"value": glucose, "unit": "mg/dL", "system": _UCUM, "code": "mg/dL"}
        return obs
    absent = coding("http://terminology.hl7.org/CodeSystem/data-absent-reason", "error", "Error")
    obs["dataAbsentReason"] = {"coding": [absent]}
    obs["note"] = [{"text": f"sensor quality {quality!r}, reported glucose_mg_dl {glucose!r}"}]
    return obs


def _delivery_status(link: CommandLink) -> tuple[str, TimelineRecord | None]:
    """MedicationAdministration status and the confirmation it rests on."""
    delivered = [c for c in link.confirmations if c.record.body.get("status") == "delivered"]
    if delivered:
        return "completed", delivered[0]
    statuses = {c.record.body.get("status") for c in link.confirmations}
    if statuses and statuses <= {"failed", "rejected"}:
        return "not-done", link.confirmations[-1]
    return "unknown", None


def _dosage(link: CommandLink, status: str, conf: TimelineRecord | None) -> JsonObject:
    command = link.command.record.body
    confirmed = conf.record.body if conf is not None and status == "completed" else {}
    if status == "completed":
        dosage: JsonObject = {"text": "delivered, as confirmed by the pump"}
    elif status == "not-done":
        dosage = {"text": "commanded; the pump reported it was not delivered"}
    else:
        dosage = {"text": "commanded; no confirmation from the pump in the window"}
    if command.get("kind") == "bolus":
        units = confirmed.get("delivered_u", command.get("units"))
        if _is_number(units):
            dosage["dose"] = {"value": units, "unit": "U", "system": _UCUM, "code": "[iU]"}
    else:
        rate = confirmed.get("rate_u_h", command.get("rate_u_h"))
        if _is_number(rate):
            dosage["rateQuantity"] = {
                "value": rate,
                "unit": "U/h",
                "system": _UCUM,
                "code": "[iU]/h",
            }
    return dosage


def _effective(link: CommandLink, conf: TimelineRecord | None, status: str) -> JsonObject:
    source = conf if conf is not None and status == "completed" else link.command
    start = source.record.device_time
    minutes = link.command.record.body.get("duration_min")
    is_temp = link.command.record.body.get("kind") == "temp_basal"
    if is_temp and isinstance(minutes, int | float) and 0 < minutes <= _MAX_TEMP_MIN:
        end = start + timedelta(minutes=float(minutes))
        return {"effectivePeriod": {"start": format_time(start), "end": format_time(end)}}
    return {"effectiveDateTime": format_time(start)}


def _administration(
    device: DeviceDescription,
    link: CommandLink,
    reading: TimelineRecord | None,
    device_ref: JsonObject,
) -> JsonObject:
    command = link.command
    status, conf = _delivery_status(link)
    identifiers = [record_identifier(device.device_id, command)]
    cid = command.record.body.get("command_id")
    if isinstance(cid, str):
        identifiers.append({"system": SYSTEM_COMMAND_ID, "value": cid})
    res: JsonObject = {
        "resourceType": "MedicationAdministration",
        "id": resource_id("MedicationAdministration", device.device_id, command.record_hash),
        "identifier": identifiers,
        "status": status,
        "medicationCodeableConcept": {"text": "insulin (as loaded in the pump)"},
        "subject": patient_ref(device),
        **_effective(link, conf, status),
        "device": [device_ref],
        "dosage": _dosage(link, status, conf),
    }
    if status == "not-done" and conf is not None:
        res["statusReason"] = [{"text": f"pump reported {conf.record.body.get('status')}"}]
    if reading is not None:
        obs_id = resource_id("Observation", device.device_id, reading.record_hash)
        res["supportingInformation"] = [reference("Observation", obs_id)]
    return res


def _entry(resource: JsonObject) -> JsonObject:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _integrity(timeline: Timeline) -> dict[str, set[str]]:
    """Integrity tag codes by stored record hash, for records that failed a check."""
    tags: dict[str, set[str]] = {}
    for brk in timeline.verification.breaks:
        tags.setdefault(brk.at.record_hash, set()).add("chain-break")
    for ref in timeline.verification.inclusion_unverified:
        tags.setdefault(ref.record_hash, set()).add("inclusion-unverified")
    return tags


def _tag(resource: JsonObject, sources: list[TimelineRecord], tags: dict[str, set[str]]) -> None:
    codes = sorted(set().union(*(tags.get(s.record_hash, set()) for s in sources)))
    if codes:
        resource["meta"] = {"tag": [coding(SYSTEM_INTEGRITY, code) for code in codes]}


def _derived(
    timeline: Timeline, device_ref: JsonObject
) -> tuple[list[JsonObject], dict[str, list[JsonObject]]]:
    """Clinical resources in chain order, and the targets each source record yields."""
    device = timeline.device
    tags = _integrity(timeline)
    links: dict[str, tuple[CommandLink, TimelineRecord | None]] = {}
    for entry in timeline.entries:
        if isinstance(entry, LoopEpisode):
            for link in entry.commands:
                links[link.command.record_hash] = (link, entry.reading)
    resources: list[JsonObject] = []
    targets: dict[str, list[JsonObject]] = {}
    for item in timeline.records:
        kind = item.record.record_type
        if kind is RecordType.SENSOR_READING:
            obs = _observation(device, item, device_ref)
            _tag(obs, [item], tags)
            resources.append(obs)
            targets.setdefault(item.record_hash, []).append(reference("Observation", obs["id"]))
        elif kind is RecordType.ACTUATOR_COMMAND and item.record_hash in links:
            link, reading = links[item.record_hash]
            if link.command.record.body.get("kind") not in _INSULIN_KINDS:
                continue
            mad = _administration(device, link, reading, device_ref)
            _tag(mad, [link.command, *link.confirmations], tags)
            resources.append(mad)
            for source in (link.command, *link.confirmations):
                targets.setdefault(source.record_hash, []).append(
                    reference("MedicationAdministration", mad["id"])
                )
    return resources, targets


def timeline_to_fhir_bundle(timeline: Timeline) -> JsonObject:
    """Return the timeline as a FHIR R4 Bundle (type ``collection``) of plain dicts."""
    device = timeline.device
    dev = device_resource(device)
    device_ref = reference("Device", dev["id"])
    resources, targets = _derived(timeline, device_ref)
    provenance = [
        provenance_resource(device, item, targets[item.record_hash], device_ref)
        for item in timeline.records
        if item.record_hash in targets
    ]
    hashes = ",".join(item.record_hash for item in timeline.records)
    return {
        "resourceType": "Bundle",
        "id": resource_id("Bundle", device.device_id, hashes),
        "type": "collection",
        "entry": [_entry(r) for r in (dev, *resources, *provenance)],
    }


def fhir_bundle_bytes(timeline: Timeline) -> bytes:
    """Return :func:`timeline_to_fhir_bundle` as compact, key-sorted JSON bytes (stable)."""
    return canonical_json(timeline_to_fhir_bundle(timeline))
