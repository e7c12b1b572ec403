"""Generate a full-size synthetic intelligence mirror from the shapes of real records.

Every generated record is a real corpus record (tests/fixtures) with its identity
rewritten: a new id, a package or CPE product drawn from a pool, shifted version
bounds and a new ``lastModified``/``modified``.  Structure (nesting, field set,
metric blocks, configuration shapes, range event mixes) stays that of the real
record, so parsing and storing costs what real data costs.

Output (default ``benchmarks/.data/``):
  nvd/nvdcve-2.0-page-NNNN.json.gz   NVD API 2.0 response pages, 2,000 CVEs each
  osv/<Ecosystem>-all.zip            OSV bulk zips, one JSON file per record
  sbom-1000.cdx.json                 a CycloneDX 1.6 SBOM of 1,000 components, 25% of
                                     them packages the mirror has advisories for
  sbom-1000-worst.cdx.json           the same size, every component has advisories

Why 25%: in the complete Go vulnerability database (corpus ``osv/bulk``, 4,291
records over 1,373 modules), 23 of the 108 distinct Go modules of the corpus's
kubectl, mongo and postgres image SBOMs have any advisory at all (21%).  The
generated pools are denser than real data (5.2 OSV advisories per affected package
against the Go database's 3.1), so the figures err on the slow side.

Usage: python benchmarks/generate_mirror.py [--nvd 300000] [--osv 250000] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import gzip
import io
import json
import random
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "intel"
PAGE = 2000
PRODUCTS_PER_NVD_POOL = 30_000
PACKAGES_PER_ECOSYSTEM = 12_000
ECOSYSTEM_PURL = {"npm": "npm", "PyPI": "pypi", "Maven": "maven", "Go": "golang"}


def _templates(kind: str) -> list[dict[str, object]]:
    folder = CORPUS / kind
    records = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if kind == "nvd" and "vulnerabilities" in data:
            records.extend(v["cve"] for v in data["vulnerabilities"])
        elif kind == "nvd" or data.get("affected"):
            records.append(data)
    if not records:
        raise SystemExit(f"no {kind} templates under {folder}")
    return records


def _vendor_of(product: str) -> str:
    return f"vendor{zlib.crc32(product.encode()) % 5000}"


def _version(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 20))


def _fmt(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


def _nvd_record(tpl: dict, i: int, rng: random.Random) -> dict:
    rec = copy.deepcopy(tpl)
    rec["id"] = f"CVE-{2000 + i % 26}-{100000 + i}"
    rec["lastModified"] = f"20{10 + i % 16}-0{1 + i % 9}-1{i % 10}T10:00:00.000"
    product = f"product{rng.randrange(PRODUCTS_PER_NVD_POOL)}"
    vendor = _vendor_of(product)
    lo, hi = sorted((_version(rng), _version(rng)))
    for conf in rec.get("configurations", []):
        for node in conf.get("nodes", []):
            for m in node.get("cpeMatch", []):
                parts = m["criteria"].split(":")
                if m.get("vulnerable"):
                    parts[3], parts[4] = vendor, product
                m["criteria"] = ":".join(parts)
                if "versionEndExcluding" in m:
                    m["versionEndExcluding"] = _fmt(hi)
                if "versionEndIncluding" in m:
                    m["versionEndIncluding"] = _fmt(hi)
                if "versionStartIncluding" in m:
                    m["versionStartIncluding"] = _fmt(lo)
    return rec


def _osv_record(tpl: dict, i: int, eco: str, rng: random.Random) -> dict:
    rec = copy.deepcopy(tpl)
    rec["id"] = f"MWSYN-{eco}-{i:07d}"
    rec["modified"] = f"20{10 + i % 16}-0{1 + i % 9}-1{i % 10}T10:00:00Z"
    rec["aliases"] = [f"CVE-{2000 + i % 26}-{100000 + i}"] if i % 5 < 3 else []
    name = _package_name(eco, rng.randrange(PACKAGES_PER_ECOSYSTEM))
    lo, hi = sorted((_version(rng), _version(rng)))
    for aff in rec.get("affected", []):
        aff["package"] = {"ecosystem": eco, "name": name}
        for rng_ in aff.get("ranges", []):
            rng_["type"] = "ECOSYSTEM" if eco in ("Maven", "PyPI") else "SEMVER"
            rng_["events"] = [{"introduced": _fmt(lo)}, {"fixed": _fmt(hi)}]
        aff.pop("versions", None)
    return rec


def _package_name(eco: str, k: int) -> str:
    if eco == "Maven":
        return f"org.example{k % 300}:artifact{k}"
    if eco == "Go":
        return f"github.com/example{k % 500}/module{k}"
    return f"package{k}"


def write_nvd(out: Path, count: int, rng: random.Random) -> None:
    """Write ``count`` NVD CVE records as gzipped API 2.0 pages."""
    templates = [t for t in _templates("nvd") if t.get("configurations")]
    (out / "nvd").mkdir(parents=True, exist_ok=True)
    for start in range(0, count, PAGE):
        vulns = [
            {"cve": _nvd_record(templates[i % len(templates)], i, rng)}
            for i in range(start, min(start + PAGE, count))
        ]
        page = {
            "resultsPerPage": len(vulns),
            "startIndex": start,
            "totalResults": count,
            "format": "NVD_CVE",
            "version": "2.0",
            "timestamp": "2026-11-25T00:00:00.000",
            "vulnerabilities": vulns,
        }
        path = out / "nvd" / f"nvdcve-2.0-page-{start // PAGE:04d}.json.gz"
        path.write_bytes(gzip.compress(json.dumps(page).encode(), compresslevel=1))


def write_osv(out: Path, count: int, rng: random.Random) -> None:
    """Write ``count`` OSV records spread over four ecosystems' ``all.zip`` files."""
    templates = _templates("osv")
    (out / "osv").mkdir(parents=True, exist_ok=True)
    ecosystems = list(ECOSYSTEM_PURL)
    for e, eco in enumerate(ecosystems):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for i in range(e, count, len(ecosystems)):
                rec = _osv_record(templates[i % len(templates)], i, eco, rng)
                zf.writestr(f"{rec['id']}.json", json.dumps(rec))
        (out / "osv" / f"{eco}-all.zip").write_bytes(buffer.getvalue())


def write_sbom(
    out: Path, filename: str, components: int, hit_ratio: float, rng: random.Random
) -> None:
    """Write a CycloneDX 1.6 SBOM; ``hit_ratio`` of its components have advisories.

    The others are named outside the generated pools: they cost index probes that
    find nothing, as most components of a real SBOM do."""
    comps = []
    for i in range(components):
        ref = f"c{i}"
        hit = rng.random() < hit_ratio
        if i % 5 == 4:
            product = f"product{rng.randrange(PRODUCTS_PER_NVD_POOL)}"
            if not hit:
                product = f"quiet{product}"
            vendor = _vendor_of(product)
            version = _fmt(_version(rng))
            comps.append(
                {
                    "type": "library",
                    "bom-ref": ref,
                    "name": product,
                    "version": version,
                    "cpe": f"cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*",
                }
            )
            continue
        eco = list(ECOSYSTEM_PURL)[i % 4]
        name = _package_name(eco, rng.randrange(PACKAGES_PER_ECOSYSTEM))
        if not hit:
            name = name.replace("package", "quietpackage").replace("artifact", "quiet")
            name = name.replace("module", "quietmodule")
        version = _fmt(_version(rng))
        if eco == "Maven":
            group, artifact = name.split(":")
            purl = f"pkg:maven/{group}/{artifact}@{version}"
        elif eco == "Go":
            purl = f"pkg:golang/{name}@v{version}"
        else:
            purl = f"pkg:{ECOSYSTEM_PURL[eco]}/{name}@{version}"
        comps.append(
            {"type": "library", "bom-ref": ref, "name": name, "version": version, "purl": purl}
        )
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {
            "timestamp": "2026-11-25T00:00:00Z",
            "component": {"type": "device", "bom-ref": "root", "name": "bench-device"},
        },
        "components": comps,
        "dependencies": [{"ref": "root", "dependsOn": [c["bom-ref"] for c in comps]}],
    }
    (out / filename).write_text(json.dumps(bom, indent=1))


def main() -> None:
    """Parse arguments and write the mirror and the SBOM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvd", type=int, default=300_000)
    parser.add_argument("--osv", type=int, default=250_000)
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / ".data")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--sbom-only", action="store_true", help="only (re)write the SBOMs")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.sbom_only:
        write_nvd(args.out, args.nvd, rng)
        write_osv(args.out, args.osv, rng)
    sbom_rng = random.Random(args.seed + 1)
    write_sbom(args.out, f"sbom-{args.components}.cdx.json", args.components, 0.25, sbom_rng)
    worst = f"sbom-{args.components}-worst.cdx.json"
    write_sbom(args.out, worst, args.components, 1.0, sbom_rng)
    meta = {"nvd": args.nvd, "osv": args.osv, "components": args.components, "seed": args.seed}
    (args.out / "meta.json").write_text(json.dumps(meta))
    print(f"wrote the mirror ({args.nvd} NVD, {args.osv} OSV records) and SBOMs to {args.out}")


if __name__ == "__main__":
    main()
