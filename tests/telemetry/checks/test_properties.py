"""Properties: clean traces raise nothing; incremental runs over any split equal one run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from medwarden.telemetry.checks import (
    DeviceLimits,
    EarlyWarning,
    StoredRecord,
    default_registry,
    run_checks,
)
from medwarden.telemetry.records import RecordType
from tests.telemetry.checks.builders import CONTEXT, Trace

LIMITS = DeviceLimits()
IDS = [f"c{i}" for i in range(4)]


@st.composite
def clean_traces(draw: st.DrawFn) -> Trace:
    """Five-minute CGM cycles, gentle glucose, small confirmed temp basals and boluses."""
    t = Trace()
    glucose = draw(st.integers(80, 250))
    for cycle in range(draw(st.integers(1, 60))):
        minute = 5 * cycle
        t.sensor(minute, glucose)
        step = draw(st.integers(1, 9)) * draw(st.sampled_from([-1, 1]))
        glucose = glucose + step if 60 <= glucose + step <= 350 else glucose - step
        if draw(st.booleans()):
            rate = draw(st.integers(0, 30)) / 10
            t.command(minute + 1, f"tb{cycle}", "temp_basal", rate_u_h=rate, duration_min=30)
            t.confirm(minute + 2, f"tb{cycle}", rate_u_h=rate)
        if draw(st.integers(0, 5)) == 0:
            units = draw(st.integers(0, 10)) / 20
            t.command(minute + 3, f"b{cycle}", "bolus", units=units)
            t.confirm(minute + 4, f"b{cycle}", delivered_u=units)
    return t


@given(clean_traces())
def test_clean_physiologic_trace_raises_no_warning(trace: Trace) -> None:
    now = trace.records[-1].received_at + timedelta(minutes=5)
    assert run_checks(CONTEXT, LIMITS, trace.records, now=now) == ()


_SENSOR = st.one_of(
    st.integers(20, 450).map(lambda g: {"glucose_mg_dl": g}),
    st.sampled_from([100, 39, 401]).map(lambda g: {"glucose_mg_dl": g}),
    st.just({"glucose_mg_dl": "high"}),
    st.sampled_from(["warmup", "error"]).map(lambda q: {"glucose_mg_dl": 50, "quality": q}),
)
_COMMAND = st.one_of(
    st.builds(
        lambda i, u: {"command_id": i, "kind": "bolus", "units": u},
        st.sampled_from(IDS),
        st.integers(0, 14),
    ),
    st.builds(
        lambda i, r, d: {"command_id": i, "kind": "temp_basal", "rate_u_h": r, "duration_min": d},
        st.sampled_from(IDS),
        st.integers(0, 8),
        st.integers(5, 120),
    ),
    st.sampled_from(IDS).map(lambda i: {"command_id": i, "kind": "suspend"}),
    st.just({"command_id": "c0", "kind": "bolus"}),
)
_CONFIRMATION = st.builds(
    lambda i, s, u: {"command_id": i, "status": s, "delivered_u": u, "rate_u_h": u},
    st.sampled_from(IDS),
    st.sampled_from(["delivered", "delivered", "failed"]),
    st.integers(0, 8),
)
_EVENT = st.tuples(
    st.sampled_from(
        [RecordType.SENSOR_READING] * 4
        + [RecordType.ACTUATOR_COMMAND, RecordType.ACTUATOR_CONFIRMATION, RecordType.ALARM]
        + [RecordType.USER_OVERRIDE]
    ),
    st.integers(0, 25),
    st.sampled_from(["next"] * 12 + ["jump", "reboot"]),
)
_BODIES = {
    RecordType.SENSOR_READING: _SENSOR,
    RecordType.ACTUATOR_COMMAND: _COMMAND,
    RecordType.ACTUATOR_CONFIRMATION: _CONFIRMATION,
    RecordType.ALARM: st.just({"code": "a1", "severity": "low"}),
    RecordType.USER_OVERRIDE: st.sampled_from(
        [{"kind": "manual_bolus", "units": 12}, {"kind": "cancel_temp"}, {"units": 1}]
    ),
}


_PATTERNS = {
    "flat": [100] * 7,
    "zigzag": [100, 112, 100, 112, 100, 112, 100],
    "compression": [160, 150, 105, 100, 120, 145],
}


@st.composite
def faulty_traces(draw: st.DrawFn) -> Trace:
    """Chains with every kind of fault; device time never goes backwards, receipt lags it."""
    t = Trace(delay=timedelta(minutes=draw(st.sampled_from([0.5, 15]))))
    minute = 0.0
    boots = 1
    for kind, step, link in draw(st.lists(_EVENT, min_size=1, max_size=45)):
        minute += step
        pattern = draw(st.sampled_from([None] * 8 + list(_PATTERNS)))
        if pattern is not None:
            for value in _PATTERNS[pattern]:
                t.sensor(minute, value)
                minute += 5
        seq = t._seq + 2 if link == "jump" else None
        if link == "reboot":
            boots += 1
        t.add(kind, draw(_BODIES[kind]), minute, seq=seq, boot_id=f"boot-{boots}")
    return t


def _splits(data: st.DataObject, n: int) -> list[int]:
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=6, unique=True))
    return [*sorted({c for c in cuts if 0 < c < n}), n]


def _incremental(
    records: Sequence[StoredRecord], ends: list[int], *, bounded: bool
) -> Counter[EarlyWarning]:
    lookback = default_registry().lookback(LIMITS)
    out: Counter[EarlyWarning] = Counter()
    start, previous = 0, None
    for end in ends:
        new = records[start:end]
        history = lookback.select(records[:start], new) if bounded else records[:start]
        now = new[-1].received_at
        hashes = [s.record_hash for s in new]
        window = [*history, *new]
        out.update(run_checks(CONTEXT, LIMITS, window, now=now, new=hashes, previous_run=previous))
        start, previous = end, now
    return out


def _one_run(records: Sequence[StoredRecord]) -> Counter[EarlyWarning]:
    return Counter(run_checks(CONTEXT, LIMITS, records, now=records[-1].received_at))


@given(st.data())
def test_incremental_runs_over_any_split_equal_one_run(data: st.DataObject) -> None:
    records = data.draw(faulty_traces()).records
    ends = _splits(data, len(records))
    assert _incremental(records, ends, bounded=False) == _one_run(records)


@given(st.data())
def test_bounded_lookback_gives_the_same_warnings(data: st.DataObject) -> None:
    records = data.draw(faulty_traces()).records
    ends = _splits(data, len(records))
    assert _incremental(records, ends, bounded=True) == _one_run(records)


@given(st.data())
def test_no_warning_is_emitted_twice(data: st.DataObject) -> None:
    records = data.draw(faulty_traces()).records
    ends = _splits(data, len(records))
    counts = _incremental(records, ends, bounded=True)
    assert all(n == 1 for n in counts.values())
