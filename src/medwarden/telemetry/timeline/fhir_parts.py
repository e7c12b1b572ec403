"""FHIR building blocks shared by the export: naming systems, ids, Device, Provenance.

Plain dicts only; :mod:`medwarden.telemetry.fhir` assembles them into the Bundle.
"""

from __future__ import annotations

import base64
import uuid

from medwarden.telemetry.records import JsonObject
from medwarden.telemetry.timeline.export import format_time
from medwarden.telemetry.timeline.model import DeviceDescription, TimelineRecord

__all__ = [
    "LOINC_CGM_GLUCOSE",
    "SYSTEM_COMMAND_ID",
    "SYSTEM_CONTROLLER",
    "SYSTEM_DEVICE_ID",
    "SYSTEM_INTEGRITY",
    "SYSTEM_PATIENT_REF",
    "SYSTEM_RECORD",
    "SYSTEM_RECORD_HASH",
    "SYSTEM_VERSION_TYPE",
    "coding",
    "device_resource",
    "patient_ref",
    "provenance_resource",
    "record_identifier",
    "reference",
    "resource_id",
]

LOINC_CGM_GLUCOSE = "99504-3"
"""LOINC "Glucose [Mass/volume] in Interstitial fluid": the value a CGM reports."""
SYSTEM_DEVICE_ID = "urn:medwarden:telemetry:device-id"
SYSTEM_PATIENT_REF = "urn:medwarden:patient-ref"
SYSTEM_RECORD = "urn:medwarden:telemetry:record"
"""Identifier system of a record: value ``device_id/boot_id/seq``."""
SYSTEM_RECORD_HASH = "urn:medwarden:telemetry:record-sha256"
SYSTEM_COMMAND_ID = "urn:medwarden:telemetry:command-id"
SYSTEM_CONTROLLER = "urn:medwarden:telemetry:controller-algorithm"
SYSTEM_VERSION_TYPE = "urn:medwarden:fhir:device-version-type"
SYSTEM_INTEGRITY = "urn:medwarden:fhir:integrity"
"""Tag system of resources whose source record failed a chain or ledger check."""
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:medwarden:fhir")


def resource_id(resource_type: str, device_id: str, record_hash: str = "") -> str:
    """Deterministic id of a resource derived from a device's record (name-based UUID)."""
    return str(uuid.uuid5(_NAMESPACE, f"{resource_type}/{device_id}/{record_hash}"))


def reference(resource_type: str, rid: str) -> JsonObject:
    """A reference to a resource of the same Bundle (by its ``urn:uuid`` full URL)."""
    return {"reference": f"urn:uuid:{rid}", "type": resource_type}


def patient_ref(device: DeviceDescription) -> JsonObject:
    """A logical Patient reference by pseudonymous identifier only (no Patient resource)."""
    return {
        "type": "Patient",
        "identifier": {"system": SYSTEM_PATIENT_REF, "value": device.patient_ref},
    }


def coding(system: str, code: str, display: str | None = None) -> JsonObject:
    """A FHIR Coding."""
    out: JsonObject = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def _version(code: str, text: str, value: str) -> JsonObject:
    return {"type": {"coding": [coding(SYSTEM_VERSION_TYPE, code)], "text": text}, "value": value}


def device_resource(device: DeviceDescription) -> JsonObject:
    """The Device: ids, serial, model, software/firmware/controller versions, patient."""
    serial_type = coding("http://terminology.hl7.org/CodeSystem/v2-0203", "SNO", "Serial Number")
    controller = _version(
        "controller",
        f"controller algorithm {device.controller_algorithm}",
        device.controller_version,
    )
    controller["component"] = {"system": SYSTEM_CONTROLLER, "value": device.controller_algorithm}
    return {
        "resourceType": "Device",
        "id": resource_id("Device", device.device_id),
        "identifier": [
            {"system": SYSTEM_DEVICE_ID, "value": device.device_id},
            {"type": {"coding": [serial_type]}, "value": device.serial},
        ],
        "serialNumber": device.serial,
        "deviceName": [{"name": device.model, "type": "model-name"}],
        "modelNumber": device.model,
        "version": [
            _version("software", "software", device.software_version),
            _version("firmware", "firmware", device.firmware_version),
            controller,
        ],
        "patient": patient_ref(device),
    }


def record_identifier(device_id: str, item: TimelineRecord) -> JsonObject:
    r = item.record
    return {"system": SYSTEM_RECORD, "value": f"{device_id}/{r.boot_id}/{r.seq}"}


def _signature(item: TimelineRecord, signature: bytes, device_ref: JsonObject) -> JsonObject:
    return {
        "type": [
            coding("urn:iso-astm:E1762-95:2013", "1.2.840.10065.1.12.1.14", "Source Signature")
        ],
        "when": format_time(item.record.device_time),
        "who": device_ref,
        "targetFormat": "application/octet-stream",
        "sigFormat": "application/octet-stream",
        "data": base64.b64encode(signature).decode("ascii"),
    }


def provenance_resource(
    device: DeviceDescription,
    item: TimelineRecord,
    targets: list[JsonObject],
    device_ref: JsonObject,
) -> JsonObject:
    r = item.record
    verified = "verified" if item.inclusion_verified else "NOT verified"
    res: JsonObject = {
        "resourceType": "Provenance",
        "id": resource_id("Provenance", device.device_id, item.record_hash),
        "target": targets,
        "occurredDateTime": format_time(r.device_time),
        "recorded": format_time(item.received_at),
        "activity": {
            "coding": [
                coding("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "CREATE", "create")
            ]
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        coding(
                            "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "author",
                            "Author",
                        )
                    ]
                },
                "who": device_ref,
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": SYSTEM_RECORD_HASH, "value": item.record_hash},
                    "display": (
                        f"device record {device.device_id}/{r.boot_id}/{r.seq} "
                        f"({r.record_type.value}), ledger index {item.ledger_index}, "
                        f"ledger inclusion {verified}"
                    ),
                },
            }
        ],
    }
    if item.signature is not None:
        res["signature"] = [_signature(item, item.signature, device_ref)]
    return res
