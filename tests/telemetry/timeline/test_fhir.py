"""The FHIR R4 export: resources, mapping choices, signatures and stable bytes."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from medwarden.telemetry.envelope import canonical_bytes
from medwarden.telemetry.fhir import (
    LOINC_CGM_GLUCOSE,
    SYSTEM_DEVICE_ID,
    SYSTEM_INTEGRITY,
    SYSTEM_PATIENT_REF,
    SYSTEM_RECORD_HASH,
    fhir_bundle_bytes,
    resource_id,
    timeline_to_fhir_bundle,
)
from medwarden.telemetry.timeline import build_timeline
from tests.telemetry.timeline.chains import DEVICE_ID, Chain, description


def _chain() -> Chain:
    chain = Chain()
    chain.loop(0)  # temp basal, delivered
    chain.loop(1, kind="bolus")  # bolus, delivered
    chain.reading(quality="warmup")
    chain.reading(quality="error")
    chain.command("f-1", None, kind="bolus")
    chain.confirm("f-1", status="rejected")
    chain.command("u-1", None, kind="bolus")  # never confirmed
    chain.command("s-1", None, kind="suspend")
    chain.confirm("s-1")
    return chain


def _bundle(chain: Chain | None = None) -> dict[str, Any]:
    chain = chain or _chain()
    return timeline_to_fhir_bundle(build_timeline(chain.stored, description()))


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_is_a_collection_with_full_urls_matching_ids() -> None:
    bundle = _bundle()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Device"
    assert kinds.count("Observation") == 4
    assert kinds.count("MedicationAdministration") == 4
    assert "Patient" not in kinds


def test_device_carries_identifiers_versions_and_controller() -> None:
    (device,) = _resources(_bundle(), "Device")
    assert device["id"] == resource_id("Device", DEVICE_ID)
    assert {"system": SYSTEM_DEVICE_ID, "value": DEVICE_ID} in device["identifier"]
    serial = [i for i in device["identifier"] if i.get("type")]
    assert serial[0]["value"] == "SN-000123"
    assert serial[0]["type"]["coding"][0]["code"] == "SNO"
    versions = {v["type"]["coding"][0]["code"]: v for v in device["version"]}
    assert versions["software"]["value"] == "2.4.1"
    assert versions["firmware"]["value"] == "fw-1.9.0"
    assert versions["controller"]["value"] == "0.7.1"
    assert versions["controller"]["component"]["value"] == "oref0-determine-basal"


def test_glucose_observations_use_loinc_ucum_device_time_and_a_pseudonym() -> None:
    chain = _chain()
    observations = _resources(_bundle(chain), "Observation")
    first = observations[0]
    assert first["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": LOINC_CGM_GLUCOSE,
        "display": "Glucose [Mass/volume] in Interstitial fluid",
    }
    assert LOINC_CGM_GLUCOSE == "99504-3"
    assert first["valueQuantity"] == {
        "value": 120,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert first["effectiveDateTime"] == "2026-01-01T12:01:00.000000Z"
    assert first["subject"] == {
        "type": "Patient",
        "identifier": {"system": SYSTEM_PATIENT_REF, "value": "pt-5f3a9c"},
    }
    assert first["device"]["reference"] == f"urn:uuid:{resource_id('Device', DEVICE_ID)}"
    assert first["id"] == resource_id("Observation", DEVICE_ID, chain.stored[0].record_hash)
    warmup, error = observations[2], observations[3]
    assert warmup["status"] == "preliminary"
    assert "valueQuantity" in warmup
    assert "valueQuantity" not in error
    assert error["dataAbsentReason"]["coding"][0]["code"] == "error"


def test_insulin_is_medication_administration_with_status_from_confirmations() -> None:
    administrations = _resources(_bundle(), "MedicationAdministration")
    by_id = {a["identifier"][1]["value"]: a for a in administrations}
    assert set(by_id) == {"c-0", "c-1", "f-1", "u-1"}  # the suspend is no administration
    temp, bolus = by_id["c-0"], by_id["c-1"]
    assert temp["status"] == "completed"
    assert temp["dosage"]["rateQuantity"]["code"] == "[iU]/h"
    assert set(temp["effectivePeriod"]) == {"start", "end"}
    assert bolus["status"] == "completed"
    assert bolus["dosage"]["dose"] == {
        "value": 0.5,
        "unit": "U",
        "system": "http://unitsofmeasure.org",
        "code": "[iU]",
    }
    assert bolus["supportingInformation"][0]["type"] == "Observation"
    assert by_id["f-1"]["status"] == "not-done"
    assert by_id["f-1"]["statusReason"][0]["text"] == "pump reported rejected"
    assert by_id["u-1"]["status"] == "unknown"
    assert "no confirmation" in by_id["u-1"]["dosage"]["text"]


def test_provenance_targets_derived_resources_and_carries_the_device_signature() -> None:
    chain = _chain()
    bundle = _bundle(chain)
    provenance = _resources(bundle, "Provenance")
    by_hash = {p["entity"][0]["what"]["identifier"]["value"]: p for p in provenance}
    reading, command, confirmation = chain.stored[0], chain.stored[2], chain.stored[3]
    prov = by_hash[reading.record_hash]
    assert prov["entity"][0]["what"]["identifier"]["system"] == SYSTEM_RECORD_HASH
    obs_id = resource_id("Observation", DEVICE_ID, reading.record_hash)
    assert prov["target"] == [{"reference": f"urn:uuid:{obs_id}", "type": "Observation"}]
    assert prov["recorded"] == "2026-01-01T12:01:03.000000Z"
    assert prov["agent"][0]["who"]["type"] == "Device"
    (signature,) = prov["signature"]
    assert signature["who"] == prov["agent"][0]["who"]
    raw = base64.b64decode(signature["data"])
    chain.key.public_key().verify(raw, canonical_bytes(reading.record))  # raises if wrong
    mad_id = resource_id("MedicationAdministration", DEVICE_ID, command.record_hash)
    for item in (command, confirmation):
        assert by_hash[item.record_hash]["target"][0]["reference"] == f"urn:uuid:{mad_id}"
    # decisions yield no resource, hence no provenance
    assert chain.stored[1].record_hash not in by_hash


def test_records_without_a_stored_signature_get_provenance_without_signature() -> None:
    chain = Chain()
    chain.reading()
    unsigned = [replace(item, signature=None) for item in chain.stored]
    bundle = timeline_to_fhir_bundle(build_timeline(unsigned, description()))
    (prov,) = _resources(bundle, "Provenance")
    assert "signature" not in prov


def test_resources_from_records_failing_a_check_are_tagged() -> None:
    chain = Chain()
    chain.reading()
    chain.reading(prev_hash="ab" * 32)
    chain.reading(inclusion_verified=False)
    observations = _resources(_bundle(chain), "Observation")
    assert "meta" not in observations[0]
    assert observations[1]["meta"]["tag"] == [{"system": SYSTEM_INTEGRITY, "code": "chain-break"}]
    assert observations[2]["meta"]["tag"][0]["code"] == "inclusion-unverified"


def test_two_exports_are_byte_identical() -> None:
    first = fhir_bundle_bytes(build_timeline(_chain().stored, description()))
    second = fhir_bundle_bytes(build_timeline(list(reversed(_chain().stored)), description()))
    assert first == second


def test_runtime_code_never_imports_a_fhir_library() -> None:
    code = (
        "import sys, medwarden.telemetry.fhir, medwarden.telemetry.timeline; "
        "bad = [m for m in sys.modules if m == 'fhir' or m.startswith(('fhir.', 'fhir_core'))]; "
        "sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    assert subprocess.run([sys.executable, "-c", code], check=False, env=env).returncode == 0


@pytest.fixture(scope="module")
def r4() -> Any:
    """The fhir.resources R4B models (R4B keeps R4's Bundle, Device, Observation, ...)."""
    return pytest.importorskip("fhir.resources.R4B")


def test_bundle_validates_against_the_r4_models(r4: Any) -> None:
    from fhir.resources.R4B.bundle import Bundle

    broken = _chain()
    broken.reading(prev_hash="ab" * 32, inclusion_verified=False)
    for bundle in (_bundle(), _bundle(broken)):
        Bundle.model_validate(bundle)
        for entry in bundle["entry"]:
            model = r4.get_fhir_model_class(entry["resource"]["resourceType"])
            parsed = model.model_validate(entry["resource"])
            assert parsed.id == entry["resource"]["id"]


def test_the_validation_is_strict_enough_to_catch_mistakes(r4: Any) -> None:
    from pydantic import ValidationError

    observation = _resources(_bundle(), "Observation")[0]
    model = r4.get_fhir_model_class("Observation")
    with pytest.raises(ValidationError):
        model.model_validate({**observation, "valueQuantity": {"value": "high"}})
    with pytest.raises(ValidationError):
        model.model_validate({**observation, "unknownField": 1})
