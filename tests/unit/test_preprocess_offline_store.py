"""The Preprocess step reads the feature groups' offline store and joins it point-in-time, as churn_features does.

The step script cannot import the project, so it carries its own (pandas) copy of
``churn_features.point_in_time_join``; the property test runs both on the same generated offline-store rows
(duplicates, ties, tombstones, labels before any feature) and holds them equal. The other tests feed the step
the adversarial stores AWS or an operator could leave, and check each ends in one sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.offline_store import parquet_bytes
from pipelines.glue import churn_features as cf
from pipelines.training.steps import preprocess
from tests.unit.offline_store_sample import ACCOUNT, GROUPS, REGION, write_sample_store

FEATURES_GROUP = GROUPS[cf.CUSTOMER_FEATURES.suffix]
LABELS_GROUP = GROUPS[cf.CHURN_LABELS.suffix]
TYPES = {spec.suffix: {f.name: f.type for f in spec.features} for spec in cf.FEATURE_GROUPS}
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_copied_names_are_churn_features() -> None:
    assert preprocess.FEATURE_COLUMNS == cf.MODEL_FEATURES
    assert (preprocess.ID_COLUMN, preprocess.EVENT_TIME_COLUMN, preprocess.LABEL_COLUMN) == (
        cf.RECORD_IDENTIFIER,
        cf.EVENT_TIME,
        cf.LABEL,
    )
    assert {preprocess.WRITE_TIME, preprocess.API_INVOCATION_TIME, preprocess.IS_DELETED} == cf.RESERVED_FEATURE_NAMES
    assert preprocess.EVENT_TIME_FORMAT == cf._EVENT_TIME_FORMAT


def _store_dir(root: Path, group: str, epoch: int = 1700000000, account: str = ACCOUNT, region: str = REGION) -> Path:
    return root / account / "sagemaker" / region / "offline-store" / f"{group}-{epoch}" / "data"


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def _put(
    root: Path, suffix: str, rows: Sequence[Mapping[str, Any]], *, name: str = "part.parquet", **where: Any
) -> None:
    group = GROUPS[suffix]
    _write(_store_dir(root, group, **where) / "year=2026" / name, parquet_bytes(TYPES[suffix], rows))


def _feature(customer: str, hour: int, tenure: int, written: int = 0, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: 0 for name in cf.MODEL_FEATURES}
    row.update(
        {
            cf.RECORD_IDENTIFIER: customer,
            cf.EVENT_TIME: cf.event_time_of(BASE + timedelta(hours=hour)),
            "tenure_months": tenure,
            "monthly_charges": float(tenure) / 2,
            "write_time": BASE + timedelta(days=30, seconds=written),
            "api_invocation_time": BASE + timedelta(days=30, seconds=written),
            "is_deleted": False,
        }
    )
    row.update(extra)
    return row


def _label(customer: str, hour: int, churned: int, written: int = 0, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        cf.RECORD_IDENTIFIER: customer,
        cf.EVENT_TIME: cf.event_time_of(BASE + timedelta(hours=hour)),
        cf.LABEL: churned,
        "write_time": BASE + timedelta(days=30, seconds=written),
        "api_invocation_time": BASE + timedelta(days=30, seconds=written),
        "is_deleted": False,
    }
    row.update(extra)
    return row


def _args(root: Path, *extra: str) -> Any:
    return preprocess.parse_args(
        [
            "--input-dir",
            str(root / "in"),
            "--features-group",
            FEATURES_GROUP,
            "--labels-group",
            LABELS_GROUP,
            "--account",
            ACCOUNT,
            "--region",
            REGION,
            *(
                arg
                for name in ("train", "validation", "test", "features", "baseline")
                for arg in (f"--{name}-dir", str(root / name))
            ),
            "--exit-message-file",
            str(root / "message"),
            *extra,
        ]
    )


def _training_set(root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    return preprocess.load_training_set(_args(root))


# --- the copy agrees with churn_features ---------------------------------------------------------------------

_customers = st.sampled_from(["a", "b", "c"])
_hours = st.integers(min_value=0, max_value=4)
_written = st.integers(min_value=0, max_value=3)  # few values: ties in write_time are common


@st.composite
def _feature_rows(draw: st.DrawFn) -> dict[str, Any]:
    return _feature(
        draw(_customers),
        draw(_hours),
        draw(st.integers(min_value=0, max_value=72)),
        draw(_written),
        is_deleted=draw(st.booleans().map(lambda deleted: deleted and draw(st.booleans()))),
    )


@st.composite
def _label_rows(draw: st.DrawFn) -> dict[str, Any]:
    return _label(
        draw(_customers),
        draw(_hours),
        draw(st.integers(min_value=0, max_value=1)),
        draw(_written),
        is_deleted=draw(st.integers(min_value=0, max_value=5)) == 0,
    )


def _comparable(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (row[cf.RECORD_IDENTIFIER], row[cf.EVENT_TIME], int(row[cf.LABEL]), *(float(row[n]) for n in cf.MODEL_FEATURES))
        for row in rows
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    features=st.lists(_feature_rows(), min_size=1, max_size=12),
    labels=st.lists(_label_rows(), min_size=1, max_size=8),
)
def test_the_step_joins_exactly_as_churn_features(
    tmp_path_factory: pytest.TempPathFactory, features: list[dict[str, Any]], labels: list[dict[str, Any]]
) -> None:
    root = tmp_path_factory.mktemp("pit")
    # One file per group, rows in generation order: file order is churn_features' input order.
    _put(root / "in", cf.CUSTOMER_FEATURES.suffix, features)
    _put(root / "in", cf.CHURN_LABELS.suffix, labels)
    expected = cf.point_in_time_join(labels, features)
    args = _args(root)
    feature_rows = preprocess.latest_writes(
        preprocess.read_store(
            *_files(args, FEATURES_GROUP), [*preprocess._KEYS, *cf.MODEL_FEATURES, *preprocess._STORE_COLUMNS]
        ),
        FEATURES_GROUP,
    )
    label_rows = preprocess.latest_writes(
        preprocess.read_store(*_files(args, LABELS_GROUP), [*preprocess._KEYS, cf.LABEL, *preprocess._STORE_COLUMNS]),
        LABELS_GROUP,
    )
    joined, without = preprocess.point_in_time(label_rows, feature_rows)
    assert _comparable(joined.to_dict("records")) == _comparable(expected.rows)
    assert without == expected.labels_without_features


def _files(args: Any, group: str) -> tuple[list[Path], str]:
    files, _older = preprocess.store_files(args.input_dir, group, account=args.account, region=args.region)
    return files, group


# --- point-in-time semantics on named cases ------------------------------------------------------------------


def test_duplicates_future_rows_and_tombstones(tmp_path: Path) -> None:
    _put(
        tmp_path / "in",
        cf.CUSTOMER_FEATURES.suffix,
        [
            # a: written twice for the same event time; the later write wins whatever the file order.
            _feature("a", 1, 7, written=2),
            _feature("a", 1, 5, written=1),
            # a: a feature row after the label's time must not be used.
            _feature("a", 9, 99),
            # b: deleted at hour 2, before its label at hour 3.
            _feature("b", 1, 4),
            _feature("b", 2, 4, is_deleted=True),
            # c: deleted, then written again before its label.
            _feature("c", 1, 1),
            _feature("c", 2, 1, is_deleted=True),
            _feature("c", 3, 3),
        ],
    )
    _put(
        tmp_path / "in",
        cf.CHURN_LABELS.suffix,
        [
            _label("a", 5, 1),
            _label("b", 3, 0),
            _label("c", 4, 1),
            # d: its only features come later; e: no features at all.
            _label("d", 0, 1),
            _label("e", 0, 0),
            # c's label at hour 6 was written, then deleted: it is no label.
            _label("c", 6, 0, written=1),
            _label("c", 6, 0, written=2, is_deleted=True),
        ],
    )
    _put(tmp_path / "in", cf.CUSTOMER_FEATURES.suffix, [_feature("d", 3, 2)], name="later.parquet")
    training, account = _training_set(tmp_path)
    assert [(r["customer_id"], r["tenure_months"]) for r in training.to_dict("records")] == [("a", 7), ("c", 3)]
    assert (account["labels"], account["joined"], account["without_features"]) == (5, 2, 3)


def test_only_the_named_groups_newest_store_of_this_account_and_region_is_read(tmp_path: Path) -> None:
    root = tmp_path / "in"
    write_sample_store(root)
    # Neighbours under the same prefix: a group whose name extends ours, another account's and region's store
    # of the same group, and an older store of the same group (deleted and created again).
    features_suffix = cf.CUSTOMER_FEATURES.suffix
    poison = [_feature(f"x{n}", 0, 1) for n in range(3)]
    _write(_store_dir(root, f"{FEATURES_GROUP}-v2") / "p.parquet", parquet_bytes(TYPES[features_suffix], poison))
    _write(
        _store_dir(root, FEATURES_GROUP, account="210987654321") / "p.parquet",
        parquet_bytes(TYPES[features_suffix], poison),
    )
    _write(
        _store_dir(root, FEATURES_GROUP, region="eu-west-1") / "p.parquet",
        parquet_bytes(TYPES[features_suffix], poison),
    )
    _write(_store_dir(root, FEATURES_GROUP, epoch=1) / "p.parquet", b"an older store is never opened")
    training, account = _training_set(tmp_path)
    assert not training["customer_id"].str.startswith("x").any()
    assert (account["joined"], account["without_features"], account["older_stores_ignored"]) == (393, 0, 1)


def test_the_training_set_is_engineer_s_values_in_model_feature_order(tmp_path: Path) -> None:
    """Training reads what the ETL's engineer() wrote, the same values serving reads from the online store."""
    from tests.unit.offline_store_sample import sample_records

    write_sample_store(tmp_path / "in")
    summary = preprocess.run(_args(tmp_path))
    assert summary["features"] == list(cf.MODEL_FEATURES)
    baseline = pd.read_csv(tmp_path / "baseline" / preprocess.BASELINE_FILE)
    engineered = {r.customer_id: cf.engineer(r) for r in sample_records()}
    training, _ = _training_set(tmp_path)
    features, _label_series = preprocess.model_inputs(training)
    expected = pd.DataFrame([engineered[c] for c in training["customer_id"]], columns=list(cf.MODEL_FEATURES))
    pd.testing.assert_frame_equal(
        features.reset_index(drop=True), expected.astype(float), check_exact=False, rtol=1e-12
    )
    assert list(baseline.columns) == list(cf.MODEL_FEATURES)


def _argv(args: Any) -> list[str]:
    argv = []
    for name, value in vars(args).items():
        if name in ("validation_fraction", "test_fraction", "seed"):
            continue
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


# --- bad input: one sentence each ----------------------------------------------------------------------------


def _parquet(frame: dict[str, list[Any]]) -> bytes:
    import io

    buffer = io.BytesIO()
    pq.write_table(pa.table(frame), buffer)
    return buffer.getvalue()


def _sample_plus(root: Path, suffix: str, rows: Sequence[Mapping[str, Any]]) -> None:
    write_sample_store(root)
    _put(root, suffix, rows, name="extra.parquet", epoch=1764547200)


def _without(column: str) -> bytes:
    row = _label("a", 0, 1)
    frame = {key: [value] for key, value in row.items() if key != column}
    return _parquet(frame)


F, L = cf.CUSTOMER_FEATURES.suffix, cf.CHURN_LABELS.suffix


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        pytest.param(
            lambda root: root.mkdir(), f"no offline store of feature group {FEATURES_GROUP} under", id="empty"
        ),
        pytest.param(
            lambda root: _store_dir(root, FEATURES_GROUP).mkdir(parents=True),
            f"of feature group {FEATURES_GROUP} holds no .parquet files yet",
            id="store-without-files",
        ),
        pytest.param(
            lambda root: (
                write_sample_store(root),
                _write(_store_dir(root, LABELS_GROUP, 1764547200) / "zz.parquet", b"not parquet"),
            ),
            f"zz.parquet of feature group {LABELS_GROUP} could not be read as Parquet",
            id="corrupt-file",
        ),
        pytest.param(
            lambda root: (
                write_sample_store(root),
                _write(_store_dir(root, LABELS_GROUP, 1764547200) / "zz.parquet", _without("write_time")),
            ),
            "zz.parquet of feature group mlops-test-churn-labels is missing column(s) write_time",
            id="missing-column",
        ),
        pytest.param(
            lambda root: _sample_plus(root, L, []),
            "",  # an empty file next to rows is fine; see the next case for a store of only empty files
            id="empty-file-is-harmless",
        ),
        pytest.param(
            lambda root: _put(root, L, [_label("a", 0, 1, is_deleted=True)]) or _put(root, F, [_feature("a", 0, 1)]),
            f"every record of feature group {LABELS_GROUP} is deleted",
            id="only-tombstones",
        ),
        pytest.param(
            lambda root: _put(root, L, [_label("a", 0, 1)]) or _put(root, F, [_feature("a", 5, 1)]),
            f"none of the 1 label(s) in {LABELS_GROUP} has a feature record in {FEATURES_GROUP} at or before",
            id="only-future-features",
        ),
        pytest.param(
            lambda root: (
                _sample_plus(root, L, [_label("zz", 400, 2)])
                or _put(root, F, [_feature("zz", 0, 1)], name="zz.parquet", epoch=1764547200)
            ),
            "column churned has 1 value(s) that are not a 0/1 (yes/no) flag, e.g. 2",
            id="bad-label",
        ),
        pytest.param(
            lambda root: (
                _write(
                    _store_dir(root, LABELS_GROUP) / "p.parquet",
                    _parquet(
                        {**{k: [v] for k, v in _label("a", 0, 1).items()}, cf.EVENT_TIME: ["2026-03-01 00:00:00"]}
                    ),
                )
                or _put(root, F, [_feature("a", 0, 1)])
            ),
            "column event_time of feature group mlops-test-churn-labels has 1 empty or unparseable value(s), "
            "e.g. '2026-03-01 00:00:00' (expected YYYY-MM-DDTHH:MM:SSZ)",
            id="event-time-format",
        ),
        pytest.param(
            lambda root: (
                _write(
                    _store_dir(root, LABELS_GROUP) / "p.parquet",
                    _parquet({**{k: [v] for k, v in _label("a", 0, 1).items()}, "is_deleted": ["maybe"]}),
                )
                or _put(root, F, [_feature("a", 0, 1)])
            ),
            f"column is_deleted of feature group {LABELS_GROUP} has 1 value(s) that are not true/false, e.g. 'maybe'",
            id="is-deleted-not-a-flag",
        ),
        pytest.param(
            lambda root: (
                _write(
                    _store_dir(root, LABELS_GROUP) / "p.parquet",
                    _parquet({**{k: [v] for k, v in _label("a", 0, 1).items()}, cf.RECORD_IDENTIFIER: [7]}),
                )
                or _put(root, F, [_feature("a", 0, 1)])
            ),
            f"column customer_id of feature group {LABELS_GROUP} has 1 value(s) that are not a non-empty string, "
            "e.g. 7",
            id="identifier-not-text",
        ),
        pytest.param(
            lambda root: (
                _put(root, L, [_label("a", 1, 1), _label("b", 1, 0)]),
                _write(
                    _store_dir(root, FEATURES_GROUP) / "p.parquet",
                    _parquet(
                        {
                            **{k: [v, v] for k, v in _feature("a", 0, 1).items()},
                            cf.RECORD_IDENTIFIER: ["a", "b"],
                            "tenure_months": ["12", "twelve"],
                        }
                    ),
                ),
            ),
            "feature tenure_months has 1 empty, non-numeric or non-finite value(s) in the joined training set, "
            "e.g. 'twelve'",
            id="mixed-types",
        ),
        pytest.param(
            lambda root: (
                _put(root, L, [_label("a", 1, 1), _label("b", 1, 0)])
                or _put(root, F, [_feature("a", 0, 1), _feature("b", 0, 1, monthly_charges=float("inf"))])
            ),
            "feature monthly_charges has 1 empty, non-numeric or non-finite value(s)",
            id="infinite-feature",
        ),
        pytest.param(
            lambda root: (
                _put(root, L, [_label(str(n), 1, 1) for n in range(20)])
                or _put(root, F, [_feature(str(n), 0, 1) for n in range(20)])
            ),
            "a classifier needs both",
            id="one-class",
        ),
    ],
)
def test_bad_offline_stores_end_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prepare: Any, expected: str
) -> None:
    prepare(tmp_path / "in")
    code = preprocess.main(_argv(_args(tmp_path)))
    if not expected:
        assert code == 0
        return
    assert code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("preprocess failed: ")
    assert expected in error, error
    assert "\n" not in error
    assert (tmp_path / "message").read_text(encoding="utf-8").strip() == error
    assert not (tmp_path / "train").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--labels-group", LABELS_GROUP, "--account", ACCOUNT, "--region", REGION], "--features-group is required"),
        (["--features-group", "g", "--labels-group", "g", "--account", ACCOUNT, "--region", REGION], "are both 'g'"),
        (["--features-group", "f", "--labels-group", "l", "--account", "12345", "--region", REGION], "12-digit"),
        (["--features-group", "f", "--labels-group", "l", "--account", ACCOUNT, "--region", "../x"], "region name"),
    ],
)
def test_bad_arguments_end_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    write_sample_store(tmp_path / "in")
    assert (
        preprocess.main(["--input-dir", str(tmp_path / "in"), "--exit-message-file", str(tmp_path / "m"), *argv]) == 1
    )
    error = capsys.readouterr().err.strip()
    assert expected in error and "\n" not in error


def test_the_step_defaults_have_no_groups_so_the_definition_must_name_them() -> None:
    defaults = preprocess.parse_args([])
    assert (defaults.features_group, defaults.labels_group, defaults.account, defaults.region) == (None,) * 4


def test_a_customer_with_labels_from_several_etl_runs_stays_in_one_split(tmp_path: Path) -> None:
    # Two ETL runs a day apart: every customer has two feature records and two labels, and some changed status.
    # tenure_months is the customer's number, so the written splits show whose rows they hold.
    features = [_feature(f"c{n:02d}", hour, n) for n in range(60) for hour in (0, 24)]
    labels = [
        _label(f"c{n:02d}", hour, int(n % 4 == 0 or (hour == 24 and n % 10 == 1)))
        for n in range(60)
        for hour in (0, 24)
    ]
    _put(tmp_path / "in", cf.CUSTOMER_FEATURES.suffix, features)
    _put(tmp_path / "in", cf.CHURN_LABELS.suffix, labels)
    summary = preprocess.run(_args(tmp_path))
    assert summary["offline_store"]["joined"] == 120 and summary["offline_store"]["customers"] == 60
    assert sum(summary["rows"].values()) == 120
    seen = {
        name: set(pd.read_csv(tmp_path / name / f"{name}.csv", header=None)[1].astype(int))
        for name in ("train", "validation", "test")
    }
    assert not (seen["train"] & seen["test"]) and not (seen["train"] & seen["validation"])
    assert not (seen["validation"] & seen["test"])
    assert set().union(*seen.values()) == set(range(60))


def test_with_one_label_per_customer_the_customer_split_is_the_row_split() -> None:
    labels = [0] * 70 + [1] * 30
    customers = [f"c{n:03d}" for n in range(100)]
    by_customer = preprocess.customer_split(customers, labels, validation_fraction=0.2, test_fraction=0.1, seed=7)
    assert by_customer == preprocess.stratified_split(labels, validation_fraction=0.2, test_fraction=0.1, seed=7)
