"""Benchmark the device portfolio on a full-size generated mirror (issue 3 figures).

Measures, on this machine, for SQLite and (with --pg) PostgreSQL:
  (a) re-evaluation after a delta of 1,000 changed advisories: wall time of
      ``services.portfolio.reevaluate`` split into ``pending_changes`` (which
      identities the changed records may affect), matching (``evaluate_identities``)
      and ``apply_reevaluation`` (match cache, finding sync, notices, audit), with the
      identities re-matched and the findings new/changed/reopened/resolved.  Two kinds
      of delta: *random* (1,000 of the mirror's 550,000 records, as a daily feed delta
      is: most touch nothing the portfolio holds) and *targeted* (1,000 records behind
      the portfolio's own cached matches: the worst 1,000-record delta);
  (b) the findings list (``portfolio.findings(FindingQuery(...))``, the query the REST
      findings route wraps): p50/p95/max per filter over >= 200 timed calls after
      warm-up, each call in the same process (a server's), a fresh process per run.

The portfolio is generated set-based, not through 10,000 SBOM imports, with the
store's own functions: products and releases through ``SqlPortfolio`` (audited),
identities from ``portfolio.identity.identify``, matching with
``services.portfolio.evaluate_identities``, then in one write transaction per
release generation ``ensure_identities``, ``write_evaluations``, ``bulk_insert`` of
``sbom_revision``/``revision_component`` rows, ``release.current_revision_pk`` and
``sync_findings`` per release -- what ``import_revision`` does, 200 releases at once.

Shape (defaults): 200 products x 50 releases x 300 components (3,000,000
``revision_component`` rows).  Each product draws its 300 components from a
manufacturer-wide catalog by Zipf popularity (so common packages are shared by many
products): ``--hit-share`` of them from packages the mirror has advisories for
(generate_mirror.py's npm/PyPI/Maven/Go/CPE pools), the rest from packages without
any.  Every package has one ascending version sequence, so products on the same
version share the identity.  Release r+1 is release r with 10% of the components
changed (27 version bumps, 3 replacements).  Releases are written in time order
(release r of every product, then r+1), one release generation every 14 days, as
imports would arrive.  KEV (1,300 CVEs) and EPSS (every CVE) are loaded first.

Usage (from the repository root, after ``generate_mirror.py``):
  python benchmarks/bench_portfolio.py [--pg URL [--no-sqlite]] [--reuse] [--runs 3]
      [--deltas random,targeted] [--calls 200] [--api] [--explain] [--profile]
      [--try-index] [--try-probe] [--try-list]
  URL names any database of the server (e.g. .../postgres); the benchmark creates
  its own databases medwarden_pf_mirror / medwarden_pf_portfolio / medwarden_pf_run.
  --api also times GET /api/v1/findings through fastapi.testclient; --try-* measure the
  changes proposed in docs/benchmarks.md on the working copy / in the child processes
  only (an index, the finding-sync probe, the findings-list shapes): src is untouched.

Files (gitignored, benchmarks/.data/): pf-mirror.db (bench.db upgraded, + KEV/EPSS),
pf-portfolio.db (the generated portfolio, kept for --reuse), pf-run.db (the copy the
timed deltas change).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import io
import json
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    bindparam,
    create_engine,
    event,
    exists,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from medwarden.core.clock import FixedClock
from medwarden.core.digests import sha256_hex
from medwarden.intel.cvss import SeverityRating, score_vector
from medwarden.intel.model import (
    Advisory,
    CpeMatch,
    EpssScore,
    EventKind,
    KevEntry,
    RangeEvent,
    Source,
)
from medwarden.intel.model import Severity as AdvisorySeverity
from medwarden.portfolio.findings import Delta, FindingQuery
from medwarden.portfolio.identity import ComponentIdentity, identify
from medwarden.portfolio.model import LifecycleState, ProductSpec, ReleaseSpec
from medwarden.sbom.model import Component
from medwarden.services.portfolio import evaluate_identities, reevaluate
from medwarden.services.ports import Evaluation, PendingChanges
from medwarden.store._bulk import bulk_insert
from medwarden.store._finding_sync import Scope, sync_findings
from medwarden.store._portfolio_matches import ensure_identities, write_evaluations
from medwarden.store._writes import allocate_pks
from medwarden.store.db import open_store, upgrade_store
from medwarden.store.intel_repository import SqlStore
from medwarden.store.portfolio_repository import (
    ADVISORY_CURSOR,
    KEV_CURSOR,
    _set_cursor,
    _top,
)
from medwarden.store.schema import advisory, kev
from medwarden.store.schema_portfolio import (
    component,
    component_match,
    component_match_id,
    finding,
    product,
    release,
    revision_component,
    sbom_revision,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
MEDWARDEN = str(Path(sys.executable).parent / "medwarden")
PG_MIRROR = "medwarden_pf_mirror"

# The generator's pools (generate_mirror.py): OSV packages per ecosystem, NVD products.
PACKAGES_PER_ECOSYSTEM = 12_000
NVD_PRODUCTS = 30_000
NVD_RECORDS, OSV_RECORDS = 300_000, 250_000
OSV_ECOSYSTEMS = ("npm", "PyPI", "Maven", "Go")
KINDS = ("npm", "pypi", "maven", "golang", "cpe")  # 80% purls, 20% CPE-only, as the SBOMs
T0 = datetime(2025, 1, 1, 8, tzinfo=UTC)
RELEASE_EVERY = timedelta(days=14)
DELTA_AT = datetime(2026, 11, 26, 6, tzinfo=UTC)

Pkg = tuple[str, int, bool]  # (kind, key, has advisories)


# -- machine -------------------------------------------------------------------------------


def _machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    disk = subprocess.run(
        ["df", "-h", "--output=source,fstype,size,avail", str(DATA)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")[1]
    rotational = subprocess.run(
        ["lsblk", "-dno", "NAME,ROTA,SIZE"], capture_output=True, text=True, check=False
    ).stdout.split()
    return {
        "host": platform.node(),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram_gib": f"{mem_kb / 1024 / 1024:.1f}",
        "disk": " ".join(disk.split()) + f" (lsblk: {' '.join(rotational)})",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


# -- locations -----------------------------------------------------------------------------


def _pg_url(base: str, database: str) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _pg_admin(base: str, *statements: str) -> None:
    engine = create_engine(
        make_url(_pg_url(base, "postgres")).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def _pg_exists(base: str, database: str) -> bool:
    engine = create_engine(make_url(_pg_url(base, "postgres")).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
        ).first()
    engine.dispose()
    return found is not None


def _copy_sqlite(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    # Checkpoint the source first so the main file holds everything.
    with sqlite3.connect(src) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(src, dst)


def _clone_pg(base: str, src: str, dst: str) -> None:
    _pg_admin(
        base,
        f'DROP DATABASE IF EXISTS "{dst}" WITH (FORCE)',
        f'CREATE DATABASE "{dst}" TEMPLATE "{src}"',
    )


# -- the mirror: bench.db (or a fresh PostgreSQL load) plus KEV and EPSS ---------------------


def _nvd_id(i: int) -> str:
    return f"CVE-{2000 + i % 26}-{100000 + i}"


def _osv_id(i: int) -> str:
    return f"MWSYN-{OSV_ECOSYSTEMS[i % 4]}-{i:07d}"


def load_kev_epss(location: str, seed: int) -> dict[str, int]:
    """KEV entries for 1,300 random CVEs (the catalog's size) and EPSS for every CVE."""
    rng = random.Random(seed)
    picked = rng.sample(range(NVD_RECORDS), 1300)
    kev_entries = [
        KevEntry(
            cve_id=_nvd_id(i),
            vendor=f"vendor{i % 5000}",
            product=f"product{i % NVD_PRODUCTS}",
            name=f"Generated KEV entry {i}",
            date_added=T0 + timedelta(days=rng.randrange(680)),
            due_date=None,
            known_ransomware="Unknown",
            required_action="Apply mitigations per vendor instructions.",
        )
        for i in picked
    ]
    scores = []
    for i in range(NVD_RECORDS):
        score = min(0.97, rng.betavariate(0.4, 12))  # EPSS is heavily skewed to low scores
        scores.append(
            EpssScore(
                cve_id=_nvd_id(i),
                score=round(score, 5),
                percentile=round(min(1.0, score * 9), 5),
                score_date=datetime(2026, 11, 24, tzinfo=UTC),
                model_version="v2025.03.14",
            )
        )
    with open_store(location, create=False) as store:
        store.upsert_kev(kev_entries)
        for start in range(0, len(scores), 50_000):
            store.upsert_epss(scores[start : start + 50_000])
    return {"kev": len(kev_entries), "epss": len(scores)}


def _mirror_files() -> list[str]:
    return [str(DATA / "nvd"), str(DATA / "osv")]


def prepare_mirror(args: argparse.Namespace, backend: str) -> str:
    """The mirror store at the current schema with KEV/EPSS; built once, then reused."""
    if backend == "sqlite":
        path = DATA / "pf-mirror.db"
        if path.exists() and args.reuse:
            return str(path)
        _copy_sqlite(DATA / "bench.db", path)
        upgrade_store(str(path))
        load_kev_epss(str(path), args.seed)
        return str(path)
    url = _pg_url(args.pg, PG_MIRROR)
    if args.reuse and _pg_exists(args.pg, PG_MIRROR):
        return url
    _pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{PG_MIRROR}" WITH (FORCE)')
    _pg_admin(args.pg, f'CREATE DATABASE "{PG_MIRROR}"')
    start = time.perf_counter()
    subprocess.run(
        [MEDWARDEN, "intel", "load", "--db", url, "--no-reevaluate", *_mirror_files()],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"loaded the mirror into PostgreSQL in {time.perf_counter() - start:.0f} s")
    load_kev_epss(url, args.seed)
    return url


# -- the generated portfolio ---------------------------------------------------------------


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank + 1) ** s for rank in range(n)]


class Catalog:
    """The manufacturer's package catalog: packages with and without advisories."""

    def __init__(self, rng: random.Random, vulnerable: int, quiet: int) -> None:
        self.vulnerable: list[Pkg] = []
        self.quiet: list[Pkg] = []
        for size, has, out in ((vulnerable, True, self.vulnerable), (quiet, False, self.quiet)):
            seen: set[tuple[str, int]] = set()
            while len(out) < size:
                kind = KINDS[len(out) % len(KINDS)]
                key = rng.randrange(NVD_PRODUCTS if kind == "cpe" else PACKAGES_PER_ECOSYSTEM)
                if (kind, key) not in seen:
                    seen.add((kind, key))
                    out.append((kind, key, has))
            rng.shuffle(out)  # popularity rank independent of the kind
        self.v_weights = _zipf_weights(len(self.vulnerable))
        self.q_weights = _zipf_weights(len(self.quiet))

    def draw(self, rng: random.Random, count: int, vulnerable: bool, avoid: set[Pkg]) -> list[Pkg]:
        pool, weights = (
            (self.vulnerable, self.v_weights) if vulnerable else (self.quiet, self.q_weights)
        )
        picked: list[Pkg] = []
        while len(picked) < count:
            for pkg in rng.choices(pool, weights, k=count - len(picked)):
                if pkg not in avoid:
                    avoid.add(pkg)
                    picked.append(pkg)
        return picked


def _versions(pkg: Pkg) -> list[str]:
    """The package's release history: one ascending sequence, the same in every product."""
    rng = random.Random(zlib.crc32(repr(pkg).encode()))
    major, minor, patch = rng.randint(0, 8), rng.randint(0, 25), rng.randint(0, 15)
    out = []
    for _ in range(60):
        out.append(f"{major}.{minor}.{patch}")
        roll = rng.random()
        if roll < 0.70:
            patch += rng.randint(1, 3)
        elif roll < 0.96:
            minor, patch = minor + 1, 0
        else:
            major, minor, patch = major + 1, 0, 0
    return out


_VERSIONS: dict[Pkg, list[str]] = {}


def _component(pkg: Pkg, index: int) -> Component:
    kind, key, has = pkg
    versions = _VERSIONS.get(pkg)
    if versions is None:
        versions = _VERSIONS[pkg] = _versions(pkg)
    version = versions[index]
    quiet = "" if has else "quiet"
    if kind == "cpe":
        name = f"{quiet}product{key}"
        vendor = f"vendor{zlib.crc32(f'product{key}'.encode()) % 5000}"
        cpe = f"cpe:2.3:a:{vendor}:{name}:{version}:*:*:*:*:*:*:*"
        return Component(ref=f"{name}@{version}", name=name, version=version, cpes=(cpe,))
    if kind == "maven":
        group, name = f"org.example{key % 300}", f"{quiet}artifact{key}"
        purl = f"pkg:maven/{group}/{name}@{version}"
        return Component(ref=purl, name=name, version=version, group=group, purl=purl)
    if kind == "golang":
        name = f"github.com/example{key % 500}/{quiet}module{key}"
        purl = f"pkg:golang/{name}@v{version}"
        return Component(ref=purl, name=name, version=f"v{version}", purl=purl)
    name = f"{quiet}package{key}"
    purl = f"pkg:{kind}/{name}@{version}"
    return Component(ref=purl, name=name, version=version, purl=purl)


def _document(slug: str, version: str, comps: list[Component], at: datetime, n: int) -> bytes:
    serial = hashlib.sha256(f"{slug}@{version}".encode()).hexdigest()
    serial = f"{serial[:8]}-{serial[8:12]}-{serial[12:16]}-{serial[16:20]}-{serial[20:32]}"
    entries = []
    for c in comps:
        entry: dict[str, Any] = {
            "type": "library",
            "bom-ref": c.ref,
            "supplier": {"name": f"Supplier {zlib.crc32(c.name.encode()) % 80}"},
            "name": c.name,
            "version": c.version,
        }
        if c.group:
            entry["group"] = c.group
        if c.purl:
            entry["purl"] = c.purl
        if c.cpes:
            entry["cpe"] = c.cpes[0]
        entries.append(entry)
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{serial}",
        "version": n,
        "metadata": {
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "component": {"type": "device", "bom-ref": "root", "name": slug, "version": version},
        },
        "components": entries,
        "dependencies": [{"ref": "root", "dependsOn": [c.ref for c in comps]}],
    }
    return orjson.dumps(bom)


def _release_version(r: int) -> str:
    return f"{1 + r // 10}.{r % 10}.0"


def _state(r: int, releases: int) -> LifecycleState:
    if r == releases - 1:
        return LifecycleState.IN_DEVELOPMENT
    if r < releases // 5:
        return LifecycleState.END_OF_SUPPORT
    return LifecycleState.FIELDED if r < releases - 5 else LifecycleState.RELEASED


def generate(location: str, args: argparse.Namespace) -> dict[str, Any]:
    """Write the portfolio into the store at ``location`` (a copy of the mirror)."""
    rng = random.Random(args.seed)
    catalog = Catalog(rng, args.vulnerable_catalog, args.quiet_catalog)
    per_vulnerable = round(args.components * args.hit_share)
    store = open_store(location, create=False)
    actor = "bench-generator"
    slugs = [f"device-{p:03d}" for p in range(args.products)]
    for slug in slugs:
        spec = ProductSpec(slug, f"Device {slug[-3:]}", manufacturer="Bench Medical")
        store.portfolio.create_product(spec, actor=actor, at=T0)
    # Each product's components: a list of (package, index in its version sequence).
    state: dict[str, list[tuple[Pkg, int]]] = {}
    for slug in slugs:
        held: set[Pkg] = set()
        pkgs = catalog.draw(rng, per_vulnerable, True, held) + catalog.draw(
            rng, args.components - per_vulnerable, False, held
        )
        state[slug] = [(pkg, rng.randint(0, 3)) for pkg in pkgs]
    identities: dict[tuple[Pkg, int], tuple[Component, ComponentIdentity]] = {}
    pks: dict[str, int] = {}
    timings: dict[str, float] = defaultdict(float)
    for r in range(args.releases):
        at = T0 + r * RELEASE_EVERY
        version = _release_version(r)
        if r:
            for slug in slugs:
                comps = state[slug]
                held = {pkg for pkg, _i in comps}
                positions = rng.sample(range(len(comps)), max(1, len(comps) // 10))
                for n, pos in enumerate(positions):
                    pkg, index = comps[pos]
                    if n < 3:  # replaced by another package of the same kind of share
                        [new] = catalog.draw(rng, 1, pkg[2], held)
                        held.discard(pkg)
                        comps[pos] = (new, rng.randint(0, 3))
                    else:
                        comps[pos] = (pkg, min(index + 1, 59))
        tick = time.perf_counter()
        for p, slug in enumerate(slugs):
            spec = ReleaseSpec(
                version, state=_state(r, args.releases), released_at=at + timedelta(minutes=p)
            )
            store.portfolio.create_release(slug, spec, actor=actor, at=at + timedelta(minutes=p))
        with store.database.read("bench: release keys") as conn:
            release_pks = dict(
                conn.execute(
                    select(product.c.slug, release.c.pk)
                    .join(release, release.c.product_pk == product.c.pk)
                    .where(release.c.version == version)
                ).all()
            )
        timings["releases_api"] += time.perf_counter() - tick
        # Identities and matching (before the write transaction, as import_sbom does).
        tick = time.perf_counter()
        fresh: dict[str, ComponentIdentity] = {}
        for slug in slugs:
            for pkg, index in state[slug]:
                if (pkg, index) not in identities:
                    comp = _component(pkg, index)
                    identities[(pkg, index)] = (comp, identify(comp))
                ident = identities[(pkg, index)][1]
                if ident.digest not in pks:
                    fresh[ident.digest] = ident
        timings["identify"] += time.perf_counter() - tick
        tick = time.perf_counter()
        todo = sorted(store.portfolio.unevaluated(fresh))
        evaluations: dict[str, Evaluation] = {}
        for start in range(0, len(todo), args.match_batch):
            batch = todo[start : start + args.match_batch]
            evaluations.update(evaluate_identities([(d, fresh[d]) for d in batch], store))
        timings["matching"] += time.perf_counter() - tick
        tick = time.perf_counter()
        documents = {}
        for p, slug in enumerate(slugs):
            comps = [identities[key][0] for key in state[slug]]
            documents[slug] = _document(slug, version, comps, at + timedelta(minutes=p), 1)
        timings["documents"] += time.perf_counter() - tick
        tick = time.perf_counter()
        with store.database.write("bench: writing a release generation") as conn:
            new_pks, _created = ensure_identities(conn, fresh)
            pks.update(new_pks)
            write_evaluations(
                conn, {pks[d]: ev for d, ev in evaluations.items()}, at, only_new=True
            )
            revision_pks = allocate_pks(conn, sbom_revision, len(slugs))
            revisions, rows, current = [], [], []
            for p, (slug, rev_pk) in enumerate(zip(slugs, revision_pks, strict=True)):
                imported = at + timedelta(minutes=p)
                document = documents[slug]
                revisions.append(
                    {
                        "pk": rev_pk,
                        "release_pk": release_pks[slug],
                        "number": 1,
                        "format": "cyclonedx-json",
                        "spec_version": "1.6",
                        "serial_number": None,
                        "document_timestamp": imported,
                        "media_type": "application/vnd.cyclonedx+json",
                        "digest": sha256_hex(document),
                        "document": document,
                        "component_count": len(state[slug]),
                        "imported_at": imported,
                        "imported_by": actor,
                    }
                )
                for key in state[slug]:
                    comp, ident = identities[key]
                    rows.append(
                        {
                            "revision_pk": rev_pk,
                            "ref": comp.ref,
                            "component_pk": pks[ident.digest],
                            "supplier": f"Supplier {zlib.crc32(comp.name.encode()) % 80}",
                            "level_of_support": None,
                            "end_of_support": None,
                            "support_justification": None,
                        }
                    )
                current.append({"b_pk": release_pks[slug], "b_rev": rev_pk})
            bulk_insert(conn, sbom_revision, revisions)
            bulk_insert(conn, revision_component, rows)
            conn.execute(
                update(release)
                .where(release.c.pk == bindparam("b_pk"))
                .values(current_revision_pk=bindparam("b_rev")),
                current,
            )
            new_findings = 0
            for p, slug in enumerate(slugs):
                counts = sync_findings(
                    conn, Scope(release_pk=release_pks[slug]), at + timedelta(minutes=p)
                )
                new_findings += len(counts.new)
        timings["write"] += time.perf_counter() - tick
        print(
            f"release generation {r + 1}/{args.releases}: {len(fresh)} new identities, "
            f"{new_findings} findings, { {k: round(v) for k, v in timings.items()} }",
            flush=True,
        )
    mark_caught_up(store, DELTA_AT - timedelta(days=1))
    shape = portfolio_shape(store)
    store.close()
    if location.startswith("postgresql"):
        analyze(location)
    return {**shape, "generation_s": {k: round(v, 1) for k, v in timings.items()}}


def mark_caught_up(store: SqlStore, at: datetime) -> dict[str, int]:
    """Set both re-evaluation cursors to the mirror's newest change (nothing pending)."""
    with store.database.write("bench: marking the portfolio caught up") as conn:
        top = _top(conn, advisory.c.change_seq)
        kev_top = _top(conn, kev.c.change_seq)
        _set_cursor(conn, ADVISORY_CURSOR, top, at)
        _set_cursor(conn, KEV_CURSOR, kev_top, at)
    return {"advisory": top, "kev": kev_top}


def analyze(location: str) -> None:
    """Refresh PostgreSQL's planner statistics (what autovacuum does after a bulk change)."""
    store = open_store(location, create=False)
    with store.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
    store.close()


def portfolio_shape(store: SqlStore) -> dict[str, Any]:
    """Counts that say what the generated portfolio is."""
    with store.database.read("bench: shape") as conn:

        def count(table: Any, *where: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())

        vulnerable = conn.execute(
            select(func.count(func.distinct(component_match.c.component_pk)))
        ).scalar()
        open_findings = count(finding, finding.c.state == "open")
        kev_findings = conn.execute(
            select(func.count())
            .select_from(finding.join(kev, kev.c.cve_id == finding.c.cve_id))
            .where(finding.c.state == "open")
        ).scalar()
        per_severity = dict(
            conn.execute(
                select(finding.c.severity, func.count())
                .where(finding.c.state == "open")
                .group_by(finding.c.severity)
            ).all()
        )
        return {
            "products": count(product),
            "releases": count(release),
            "revision_components": count(revision_component),
            "identities": count(component),
            "identities_with_matches": vulnerable,
            "component_matches": count(component_match),
            "component_match_ids": count(component_match_id),
            "findings_open": open_findings,
            "findings_total": count(finding),
            "findings_kev": kev_findings,
            "findings_by_severity": per_severity,
            "vulnerabilities": conn.execute(
                select(func.count(func.distinct(finding.c.vulnerability_id)))
            ).scalar(),
        }


def prepare_portfolio(args: argparse.Namespace, backend: str, mirror: str) -> tuple[str, dict]:
    """The generated portfolio (cached between runs with --reuse)."""
    shape_file = DATA / f"{args.name}-portfolio-{backend}.json"
    if backend == "sqlite":
        location = str(DATA / f"{args.name}-portfolio.db")
        cached = Path(location).exists()
    else:
        location = _pg_url(args.pg, _pg_name(args, "portfolio"))
        cached = _pg_exists(args.pg, _pg_name(args, "portfolio"))
    if args.reuse and cached and shape_file.exists():
        return location, json.loads(shape_file.read_text())
    if backend == "sqlite":
        _copy_sqlite(Path(mirror), Path(location))
    else:
        _clone_pg(args.pg, PG_MIRROR, _pg_name(args, "portfolio"))
    start = time.perf_counter()
    shape = generate(location, args)
    shape["generation_total_s"] = round(time.perf_counter() - start, 1)
    shape["parameters"] = {
        k: getattr(args, k)
        for k in (
            "products",
            "releases",
            "components",
            "hit_share",
            "vulnerable_catalog",
            "quiet_catalog",
            "seed",
        )
    }
    shape_file.write_text(json.dumps(shape, indent=1, default=str))
    return location, shape


def working_copy(args: argparse.Namespace, backend: str, portfolio: str) -> str:
    """A copy of the generated portfolio for the timed deltas to change."""
    if backend == "sqlite":
        run = DATA / f"{args.name}-run.db"
        _copy_sqlite(Path(portfolio), run)
        return str(run)
    _clone_pg(args.pg, _pg_name(args, "portfolio"), _pg_name(args, "run"))
    return _pg_url(args.pg, _pg_name(args, "run"))


TRIED_INDEX = (
    "CREATE INDEX ix_bench_rc_component_revision ON revision_component (component_pk, revision_pk)"
)
"""The index proposed for ``sync_findings``'s "still in the current revision" probe."""


def try_index(location: str) -> dict[str, Any]:
    """Add the proposed index to the working copy (never to the cached portfolio)."""
    store = open_store(location, create=False)
    start = time.perf_counter()
    with store.database.write("bench: trying an index") as conn:
        conn.execute(text(TRIED_INDEX))
    elapsed = time.perf_counter() - start
    if store.database.dialect == "postgresql":
        with store.database.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            conn.execute(text("ANALYZE revision_component"))
    store.close()
    return {"index": TRIED_INDEX, "build_s": round(elapsed, 1)}


def _pg_name(args: argparse.Namespace, what: str) -> str:
    return f"medwarden_{args.name}_{what}"


# -- (a) the delta and the timed re-evaluation ---------------------------------------------


def _shift(version: str | None, steps: int) -> str | None:
    if not version:
        return version
    parts = version.lstrip("v").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return version
    minor = max(0, int(parts[1]) + steps)
    prefix = "v" if version.startswith("v") else ""
    return prefix + ".".join([parts[0], str(minor), *parts[2:]])


def _change_fix(adv: Advisory, steps: int) -> Advisory | None:
    """Move the fixed version (OSV ranges) or the range end (NVD) by ``steps`` minors."""
    if adv.affected:
        affected = []
        changed = False
        for aff in adv.affected:
            ranges = []
            for rng_ in aff.ranges:
                events = []
                for ev in rng_.events:
                    if ev.kind is EventKind.FIXED:
                        ev = RangeEvent(ev.kind, _shift(ev.version, steps) or ev.version)
                        changed = True
                    events.append(ev)
                ranges.append(dataclasses.replace(rng_, events=tuple(events)))
            affected.append(dataclasses.replace(aff, ranges=tuple(ranges)))
        return dataclasses.replace(adv, affected=tuple(affected)) if changed else None
    changed = False

    def moved(m: CpeMatch) -> CpeMatch:
        nonlocal changed
        if m.vulnerable and (m.version_end_excluding or m.version_end_including):
            changed = True
            return dataclasses.replace(
                m,
                version_end_excluding=_shift(m.version_end_excluding, steps),
                version_end_including=_shift(m.version_end_including, steps),
            )
        return m

    configurations = tuple(
        dataclasses.replace(
            conf,
            nodes=tuple(
                dataclasses.replace(node, matches=tuple(moved(m) for m in node.matches))
                for node in conf.nodes
            ),
        )
        for conf in adv.configurations
    )
    return dataclasses.replace(adv, configurations=configurations) if changed else None


_IMPACT = {"H": "N", "N": "L", "L": "H"}


def _change_cvss(adv: Advisory) -> Advisory | None:
    """Rotate the confidentiality and availability impacts of every CVSS v3 vector."""
    severities = []
    changed = False
    for sev in adv.severities:
        if sev.vector.startswith("CVSS:3"):
            parts = [
                f"{k}:{_IMPACT[v]}" if k in ("C", "A") and v in _IMPACT else f"{k}:{v}"
                for k, v in (p.split(":", 1) for p in sev.vector.split("/")[1:])
            ]
            vector = "/".join([sev.vector.split("/")[0], *parts])
            score = score_vector(vector).base_score if sev.base_score is not None else None
            sev = AdvisorySeverity(sev.type, vector, score, sev.source)
            changed = True
        severities.append(sev)
    return dataclasses.replace(adv, severities=tuple(severities)) if changed else None


def changed_advisory(adv: Advisory, rng: random.Random, modified: datetime) -> Advisory:
    """A realistic update: fix version moved (40%), CVSS re-scored (40%), text (20%)."""
    roll = rng.random()
    new: Advisory | None = None
    if roll < 0.4:
        new = _change_fix(adv, rng.choice((-3, -2, -1, 1, 2, 3)))
    if new is None and roll < 0.8:
        new = _change_cvss(adv)
    if new is None:
        new = dataclasses.replace(
            adv,
            summary=(adv.summary or "") + " (updated analysis)",
            references=(*adv.references, f"https://example.org/advisories/{adv.id}/update"),
        )
    return dataclasses.replace(new, modified=modified)


def write_delta(location: str, kind: str, seed: int, count: int) -> dict[str, Any]:
    """Re-read ``count`` stored advisories, change them, store them (a new change batch)."""
    rng = random.Random(seed)
    store = open_store(location, create=False)
    if kind == "random":
        ids = [_nvd_id(i) for i in rng.sample(range(NVD_RECORDS), count * 6 // 11)]
        ids += [_osv_id(i) for i in rng.sample(range(OSV_RECORDS), count - len(ids))]
    else:  # records behind the portfolio's cached matches
        with store.database.read("bench: matched records") as conn:
            matched = sorted(
                conn.execute(select(component_match_id.c.record_id).distinct()).scalars()
            )
        ids = rng.sample(matched, count)
    found = store.summaries(ids)
    modified = DELTA_AT + timedelta(minutes=seed % 1000)  # later run, later change
    changed = [changed_advisory(found[i], rng, modified) for i in sorted(found)]
    counts = store.upsert_advisories(changed)
    store.close()
    return {
        "kind": kind,
        "advisories": len(changed),
        "sources": {s.value: sum(a.source is s for a in changed) for s in (Source.NVD, Source.OSV)},
        "stored": dataclasses.asdict(counts),
    }


class TimedPortfolio:
    """The store's portfolio with its two re-evaluation calls timed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.times: dict[str, float] = {}
        self.identities = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def pending_changes(self) -> PendingChanges:
        start = time.perf_counter()
        pending: PendingChanges = self.inner.pending_changes()
        self.times["pending_changes"] = time.perf_counter() - start
        self.identities = len(pending.components)
        return pending

    def apply_reevaluation(
        self,
        pending: PendingChanges,
        evaluations: Mapping[int, Evaluation],
        *,
        actor: str,
        at: datetime,
    ) -> Delta:
        start = time.perf_counter()
        delta: Delta = self.inner.apply_reevaluation(pending, evaluations, actor=actor, at=at)
        self.times["apply"] = time.perf_counter() - start
        return delta


@contextmanager
def sql_timer(store: SqlStore) -> Iterator[dict[str, list[float]]]:
    """Time every statement the store runs (keyed by its first 160 characters)."""
    seen: dict[str, list[float]] = defaultdict(list)
    engine = store.database.engine

    def before(conn: Any, _cursor: Any, _stmt: str, _params: Any, _ctx: Any, _many: Any) -> None:
        conn.info.setdefault("bench_start", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, stmt: str, _params: Any, _ctx: Any, _many: Any) -> None:
        seen[" ".join(stmt.split())[:160]].append(
            time.perf_counter() - conn.info["bench_start"].pop()
        )

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def timed_reevaluation(location: str, run: int, profile: bool) -> dict[str, Any]:
    """In this (fresh) process: time one ``reevaluate`` over what is pending."""
    store = open_store(location, create=False)
    timed = TimedPortfolio(store.portfolio)
    clock = FixedClock(DELTA_AT + timedelta(minutes=run, seconds=30))
    profiler = cProfile.Profile() if profile else None
    with sql_timer(store) as statements:
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        delta = reevaluate(timed, store, actor="bench-monitor", clock=clock)
        total = time.perf_counter() - start
        if profiler:
            profiler.disable()
    pending = timed.times.get("pending_changes", 0.0)
    apply = timed.times.get("apply", 0.0)
    top = sorted(statements.items(), key=lambda kv: -sum(kv[1]))[:8]
    out: dict[str, Any] = {
        "total_s": round(total, 3),
        "pending_changes_s": round(pending, 3),
        "matching_s": round(total - pending - apply, 3),
        "apply_s": round(apply, 3),
        "identities_rematched": timed.identities,
        "delta": delta.as_counts() | {"skipped": delta.skipped},
        "statements": len([t for ts in statements.values() for t in ts]),
        "top_statements": [
            {"sql": sql, "calls": len(ts), "total_s": round(sum(ts), 3)} for sql, ts in top
        ],
    }
    if profiler:
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(40)
        out["profile"] = buffer.getvalue()
    store.close()
    return out


# -- (b) the findings list ----------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def findings_queries(store: SqlStore, rng: random.Random) -> dict[str, Callable[[], FindingQuery]]:
    """The filters people use, each a factory of randomised queries."""
    with store.database.read("bench: finding keys") as conn:
        rows = conn.execute(
            select(product.c.slug, release.c.version, func.count(), func.min(finding.c.pk))
            .select_from(
                finding.join(product, product.c.pk == finding.c.product_pk).join(
                    release, release.c.pk == finding.c.release_pk
                )
            )
            .where(finding.c.state == "open")
            .group_by(product.c.slug, release.c.version)
        ).all()
        top_pk = int(conn.execute(select(func.max(finding.c.pk))).scalar_one())
        newest = conn.execute(select(func.max(finding.c.discovered_at))).scalar_one()
    if isinstance(newest, str):
        newest = datetime.fromisoformat(newest)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    slugs = sorted({r[0] for r in rows})
    releases = [(r[0], r[1]) for r in rows]
    since = newest - timedelta(days=30)
    pages = [(r[0], r[3]) for r in rows]

    def one(**kw: Any) -> Callable[[], FindingQuery]:
        return lambda: FindingQuery(**kw)

    def product_deep() -> FindingQuery:
        slug, first = rng.choice(pages)
        return FindingQuery(products=frozenset({slug}), after=rng.randrange(first, top_pk))

    return {
        "no filter (first page)": one(),
        "one product": lambda: FindingQuery(products=frozenset({rng.choice(slugs)})),
        "one product + release": lambda: (
            lambda sr: FindingQuery(products=frozenset({sr[0]}), release=sr[1])
        )(rng.choice(releases)),
        "5 products (scoped user)": lambda: FindingQuery(products=frozenset(rng.sample(slugs, 5))),
        "min severity high": one(min_severity=SeverityRating.HIGH),
        "kev=True": one(kev=True),
        "new_since (30 days)": one(new_since=since),
        "new_since (1 day)": one(new_since=newest - timedelta(days=1)),
        "deep page (random after)": lambda: FindingQuery(after=rng.randrange(top_pk)),
        "one product, deep page": product_deep,
        "no filter, limit 500": one(limit=500),
    }


def timed_findings(location: str, calls: int, warmup: int, seed: int) -> dict[str, Any]:
    """In this (fresh) process: p50/p95/max of ``portfolio.findings`` per filter."""
    store = open_store(location, create=False)
    rng = random.Random(seed)
    out: dict[str, Any] = {}
    for label, make in findings_queries(store, rng).items():
        first_start = time.perf_counter()
        store.portfolio.findings(make())
        first = time.perf_counter() - first_start
        for _ in range(warmup):
            store.portfolio.findings(make())
        times, rows = [], 0
        for _ in range(calls):
            query = make()
            start = time.perf_counter()
            page = store.portfolio.findings(query)
            times.append(time.perf_counter() - start)
            rows += len(page)
        out[label] = {
            "first_ms": round(first * 1000, 1),
            "p50_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(_percentile(times, 0.95) * 1000, 2),
            "max_ms": round(max(times) * 1000, 2),
            "rows_per_call": round(rows / calls, 1),
        }
    store.close()
    return out


def _api_params(query: FindingQuery, scoped: bool) -> dict[str, str]:
    from medwarden.api.pagination import encode_cursor

    params = {"limit": str(query.limit)}
    if query.products is not None and not scoped:
        [params["product"]] = query.products
    if query.release is not None:
        params["release"] = query.release
    if query.min_severity is not None:
        params["severity"] = query.min_severity.value
    if query.kev is not None:
        params["kev"] = "true" if query.kev else "false"
    if query.new_since is not None:
        params["new_since"] = query.new_since.isoformat()
    if query.after:
        params["cursor"] = encode_cursor((query.after,))
    return params


def timed_api(location: str, calls: int, warmup: int, seed: int) -> dict[str, Any]:
    """In this (fresh) process: GET /api/v1/findings through fastapi.testclient, per filter.

    Two service accounts are created in the working copy: one with every product and
    one scoped to the 5 products the "scoped user" filter draws (its own token)."""
    import warnings

    from medwarden.api.app import create_app
    from medwarden.auth.model import Role
    from medwarden.config import Settings
    from medwarden.core.clock import SystemClock
    from medwarden.services.auth import create_token, create_user

    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

    rng = random.Random(seed)
    store = open_store(location, create=False)
    queries = findings_queries(store, rng)
    scope = sorted(queries["5 products (scoped user)"]().products or ())
    clock = SystemClock()
    tokens = {}
    for who, products in (("all", None), ("scoped", scope)):
        name = f"bench-{who}-{seed}"
        create_user(
            store.auth, name, roles=[Role.REGULATORY], products=products, actor="bench", clock=clock
        )
        issued = create_token(
            store.auth,
            owner=name,
            name=f"{name}-token",
            roles=[Role.REGULATORY],
            lifetime=timedelta(days=1),
            actor="bench",
            clock=clock,
        )
        tokens[who] = issued.plaintext
    store.close()
    out: dict[str, Any] = {}
    app = create_app(Settings(db=location, db_source="option"))
    with TestClient(app) as client:
        for label, make in queries.items():
            scoped = label.startswith("5 products")
            headers = {"Authorization": f"Bearer {tokens['scoped' if scoped else 'all']}"}

            def get(
                query: FindingQuery,
                headers: dict[str, str] = headers,
                scoped: bool = scoped,
                label: str = label,
            ) -> Any:
                response = client.get(
                    "/api/v1/findings", params=_api_params(query, scoped), headers=headers
                )
                if response.status_code != 200:
                    raise SystemExit(f"{label}: HTTP {response.status_code} {response.text}")
                return response.json()

            for _ in range(warmup):
                get(make())
            times, rows = [], 0
            for _ in range(calls):
                query = make()
                start = time.perf_counter()
                body = get(query)
                times.append(time.perf_counter() - start)
                rows += len(body["items"])
            out[label] = {
                "p50_ms": round(statistics.median(times) * 1000, 2),
                "p95_ms": round(_percentile(times, 0.95) * 1000, 2),
                "max_ms": round(max(times) * 1000, 2),
                "rows_per_call": round(rows / calls, 1),
            }
    return out


def explain(location: str, seed: int) -> dict[str, str]:
    """EXPLAIN (QUERY PLAN) of one query per filter, for the report."""
    from medwarden.store import portfolio_repository

    finding_select = portfolio_repository.finding_select
    store = open_store(location, create=False)
    rng = random.Random(seed)
    plans = {}
    dialect = store.database.engine.dialect
    with store.database.read("bench: explain") as conn:
        for label, make in findings_queries(store, rng).items():
            stmt = finding_select(make())
            compiled = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            sql = str(compiled)
            prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN ANALYZE "
            rows = conn.exec_driver_sql(prefix + sql).all()
            plans[label] = "\n".join(" | ".join(str(c) for c in r) for r in rows)
    store.close()
    return plans


# -- driver --------------------------------------------------------------------------------


def _child(*argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *argv],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **CHILD_ENV},
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child {argv} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def bench_backend(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    mirror = prepare_mirror(args, backend)
    portfolio, shape = prepare_portfolio(args, backend, mirror)
    if args.generate_only:
        return {"portfolio": shape}
    location = working_copy(args, backend, portfolio)
    results: dict[str, Any] = {"portfolio": shape, "reevaluation": {}}
    if args.try_index:
        results["tried"] = try_index(location)
    if args.try_probe:
        CHILD_ENV[_TRY_PROBE] = "1"
        results["tried_probe"] = True
    if args.try_list:
        results["tried_list"] = try_list_indexes(location)
        CHILD_ENV[_TRY_LIST] = "1"
    for kind in args.deltas:
        runs = []
        for run in range(args.runs):
            seed = args.seed + (0 if kind == "random" else 500) + run
            delta = _child("delta", location, kind, str(seed), str(args.delta))
            timed = _child("reevaluate", location, str(seed), "1" if args.profile else "0")
            runs.append({"written": delta, **timed})
            print(
                f"[{backend}] {kind} delta run {run + 1}: total {timed['total_s']} s "
                f"(pending {timed['pending_changes_s']}, matching {timed['matching_s']}, "
                f"apply {timed['apply_s']}), {timed['identities_rematched']} identities, "
                f"{timed['delta']}",
                flush=True,
            )
        results["reevaluation"][kind] = {
            "runs": runs,
            "total_s": _spread([r["total_s"] for r in runs]),
            "pending_changes_s": _spread([r["pending_changes_s"] for r in runs]),
            "matching_s": _spread([r["matching_s"] for r in runs]),
            "apply_s": _spread([r["apply_s"] for r in runs]),
        }
    if not args.calls:
        return results
    finding_runs = [
        _child("findings", location, str(args.calls), str(args.warmup), str(args.seed + run))
        for run in range(args.runs)
    ]
    results["findings"] = {
        label: {
            "p50_ms": _spread([r[label]["p50_ms"] for r in finding_runs]),
            "p95_ms": _spread([r[label]["p95_ms"] for r in finding_runs]),
            "max_ms": max(r[label]["max_ms"] for r in finding_runs),
            "rows_per_call": finding_runs[-1][label]["rows_per_call"],
            "first_ms": [r[label]["first_ms"] for r in finding_runs],
        }
        for label in finding_runs[0]
        if label != "loadavg_after"
    }
    results["findings_loadavg_after"] = [r["loadavg_after"] for r in finding_runs]
    results["findings_shape"] = portfolio_shape_of(location)
    if args.api:
        api_runs = [
            _child("api", location, str(args.calls), str(args.warmup), str(args.seed + run))
            for run in range(args.runs)
        ]
        results["api"] = {
            label: {
                "p50_ms": _spread([r[label]["p50_ms"] for r in api_runs]),
                "p95_ms": _spread([r[label]["p95_ms"] for r in api_runs]),
                "max_ms": max(r[label]["max_ms"] for r in api_runs),
                "rows_per_call": api_runs[-1][label]["rows_per_call"],
            }
            for label in api_runs[0]
            if label != "loadavg_after"
        }
        results["api_loadavg_after"] = [r["loadavg_after"] for r in api_runs]
    if args.explain:
        results["plans"] = _child("explain", location, str(args.seed))
    return results


def portfolio_shape_of(location: str) -> dict[str, Any]:
    store = open_store(location, create=False)
    try:
        return portfolio_shape(store)
    finally:
        store.close()


CHILD_ENV: dict[str, str] = {}
_TRY_PROBE = "MEDWARDEN_BENCH_TRY_PROBE"


def patch_probe() -> None:
    """Experiment (--try-probe), in this process only: ``sync_findings``'s "the release's
    current revision still holds the component" test as one probe of
    (component_pk, revision_pk) -- the query shape proposed in docs/benchmarks.md."""
    from medwarden.store import _finding_sync

    def in_current_revision() -> Any:
        current = (
            select(release.c.current_revision_pk)
            .where(release.c.pk == finding.c.release_pk)
            .correlate(finding)
            .scalar_subquery()
        )
        rc = revision_component.c
        return exists(
            select(literal(1)).where(
                rc.component_pk == finding.c.component_pk, rc.revision_pk == current
            )
        )

    _finding_sync._in_current_revision = in_current_revision  # type: ignore[attr-defined]


_TRY_LIST = "MEDWARDEN_BENCH_TRY_LIST"
LIST_INDEXES = ("CREATE INDEX ix_bench_finding_discovered ON finding (discovered_at, pk)",)
"""The index proposed for the findings list (``--try-list``)."""


def patch_list() -> None:
    """Experiment (--try-list), in this process only: the findings-list changes proposed
    in docs/benchmarks.md.  ``new_since`` first reads the smallest id discovered since
    (through the discovered_at index; ``pk + 0`` keeps both databases from answering
    ``min(pk)`` by walking the primary key) and pages from there; ``kev=True`` becomes
    ``cve_id IN (SELECT cve_id FROM kev)``, which SQLite drives through ix_finding_cve_id."""
    from medwarden.store import _portfolio_findings, portfolio_repository

    original_select = _portfolio_findings.finding_select
    original_findings = portfolio_repository.SqlPortfolio.findings

    def finding_select(query: FindingQuery) -> Any:
        stmt = original_select(query)
        if query.kev:
            listed = kev.alias("k_listed")
            stmt = stmt.where(finding.c.cve_id.in_(select(listed.c.cve_id)))
        return stmt

    def findings(self: Any, query: FindingQuery) -> Any:
        if query.new_since is not None:
            with self._database.read("listing findings") as conn:
                first = conn.execute(
                    select(func.min(finding.c.pk + 0)).where(
                        finding.c.discovered_at >= query.new_since
                    )
                ).scalar()
            if first is None:
                return []
            query = dataclasses.replace(query, after=max(query.after, int(first) - 1))
        return original_findings(self, query)

    portfolio_repository.finding_select = finding_select  # type: ignore[attr-defined]
    portfolio_repository.SqlPortfolio.findings = findings  # type: ignore[method-assign]


def try_list_indexes(location: str) -> dict[str, Any]:
    """Add the proposed findings-list indexes to the working copy."""
    store = open_store(location, create=False)
    start = time.perf_counter()
    with store.database.write("bench: trying list indexes") as conn:
        for statement in LIST_INDEXES:
            conn.execute(text(statement))
    elapsed = time.perf_counter() - start
    if store.database.dialect == "postgresql":
        with store.database.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            conn.execute(text("ANALYZE finding"))
    store.close()
    return {"indexes": list(LIST_INDEXES), "build_s": round(elapsed, 1)}


def child(argv: list[str]) -> None:
    """Entry point of the fresh processes; prints one JSON line."""
    if os.environ.get(_TRY_PROBE) == "1":
        patch_probe()
    if os.environ.get(_TRY_LIST) == "1":
        patch_list()
    action, location, *rest = argv
    if action == "delta":
        result: Any = write_delta(location, rest[0], int(rest[1]), int(rest[2]))
    elif action == "reevaluate":
        result = timed_reevaluation(location, int(rest[0]) % 1000, rest[1] == "1")
    elif action == "findings":
        result = timed_findings(location, int(rest[0]), int(rest[1]), int(rest[2]))
    elif action == "api":
        result = timed_api(location, int(rest[0]), int(rest[1]), int(rest[2]))
    elif action == "explain":
        result = explain(location, int(rest[0]))
    else:
        raise SystemExit(f"unknown child action {action}")
    if isinstance(result, dict):
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, default=str))


def main() -> None:
    """Parse arguments, build (or reuse) the stores, run the measurements, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="also measure on this PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--reuse", action="store_true", help="reuse the generated stores")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delta", type=int, default=1000, help="changed advisories per run")
    parser.add_argument(
        "--deltas",
        type=lambda v: [k for k in v.split(",") if k],
        default=["random", "targeted"],
        help="which deltas to time (comma-separated: random,targeted; empty: none)",
    )
    parser.add_argument(
        "--calls", type=int, default=200, help="timed findings calls per filter (0: none)"
    )
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--try-index", action="store_true", help="add the proposed index to the working copy"
    )
    parser.add_argument(
        "--try-probe",
        action="store_true",
        help="re-evaluate with the proposed sync_findings probe (patched in the child only)",
    )
    parser.add_argument(
        "--try-list",
        action="store_true",
        help="list findings with the proposed indexes and query shapes (working copy only)",
    )
    parser.add_argument(
        "--api", action="store_true", help="also time GET /api/v1/findings (fastapi.testclient)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each re-evaluation")
    parser.add_argument("--explain", action="store_true", help="query plans of the list")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--releases", type=int, default=50)
    parser.add_argument("--components", type=int, default=300)
    parser.add_argument("--hit-share", type=float, default=0.03)
    parser.add_argument("--vulnerable-catalog", type=int, default=1000)
    parser.add_argument("--quiet-catalog", type=int, default=10_000)
    parser.add_argument("--match-batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--name", default="pf", help="prefix of the portfolio stores")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not (DATA / "bench.db").exists():
        raise SystemExit("benchmarks/.data/bench.db missing: run generate_mirror.py and load it")
    results: dict[str, Any] = {"machine": _machine(), "arguments": sys.argv[1:]}
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.pg else [])
    for backend in backends:
        results[backend] = bench_backend(args, backend)
    document = json.dumps(results, indent=2, default=str)
    if args.output:
        args.output.write_text(document)
    print(document)


if __name__ == "__main__":
    main()
