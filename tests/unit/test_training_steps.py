"""The training pipeline's step scripts, run end to end on the shipped sample without AWS.

The chain is what the pipeline runs: the Level 0 sample cleaned by churn_transform and engineered by
churn_features, in Feature Store's offline-store layout (what the ETL job leaves), then preprocess.py, then
SageMaker's built-in XGBoost training reproduced by local_train, then evaluate.py. It runs once per module;
the tests inspect what each stage wrote.
"""

from __future__ import annotations

import ast
import io
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.glue.churn_features import CHURN_LABELS, CUSTOMER_FEATURES, MODEL_FEATURES
from pipelines.glue.churn_transform import CleanRecord
from pipelines.training import local_train
from pipelines.training.definition import AUC_JSON_PATH, DEFAULT_AUC_THRESHOLD, DEFAULT_HYPERPARAMETERS
from pipelines.training.steps import evaluate, preprocess
from tests.unit.offline_store_sample import ACCOUNT, GROUPS, REGION, sample_records, write_sample_store

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Run:
    """Where one preprocess -> train -> evaluate run wrote its outputs."""

    root: Path
    records: tuple[CleanRecord, ...]
    exit_codes: tuple[int, int]

    def split(self, name: str) -> Path:
        return self.root / name / f"{name}.csv"

    def features(self) -> dict[str, Any]:
        return _read_json(self.root / "features" / "features.json")

    def report(self) -> dict[str, Any]:
        return _read_json(self.root / "evaluation" / evaluate.EVALUATION_FILE)


def curated_records() -> tuple[CleanRecord, ...]:
    return sample_records()


def preprocess_args(input_dir: Path, root: Path, *extra: str) -> list[str]:
    return [
        "--input-dir",
        str(input_dir),
        "--features-group",
        GROUPS[CUSTOMER_FEATURES.suffix],
        "--labels-group",
        GROUPS[CHURN_LABELS.suffix],
        "--account",
        ACCOUNT,
        "--region",
        REGION,
        *(arg for name in (*SPLITS, "features", "baseline") for arg in (f"--{name}-dir", str(root / name))),
        "--exit-message-file",
        str(root / "message"),
        *extra,
    ]


def read_split(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def json_path(document: dict[str, Any], path: str) -> Any:
    """Resolve a dotted JsonGet path the way SageMaker Pipelines does for these simple paths."""
    value: Any = document
    for key in path.split("."):
        value = value[key]
    return value


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("training-run")
    records = curated_records()
    write_sample_store(root / "curated")
    preprocessed = preprocess.main(preprocess_args(root / "curated", root))
    local_train.train_like_sagemaker(
        train_dir=root / "train",
        validation_dir=root / "validation",
        hyperparameters=DEFAULT_HYPERPARAMETERS,
        model_dir=root / "model",
    )
    evaluated = evaluate.main(
        [
            "--model-dir",
            str(root / "model"),
            "--test-dir",
            str(root / "test"),
            "--evaluation-dir",
            str(root / "evaluation"),
            "--exit-message-file",
            str(root / "message"),
        ]
    )
    return Run(root=root, records=records, exit_codes=(preprocessed, evaluated))


def test_the_chain_succeeds_on_the_sample(run: Run) -> None:
    assert run.exit_codes == (0, 0)
    assert not (run.root / "message").exists()


# --- preprocess ------------------------------------------------------------------------------------------


def test_splits_are_headerless_numeric_with_a_binary_label_first(run: Run) -> None:
    width = 1 + len(run.features()["features"])
    for name in SPLITS:
        first_line = run.split(name).read_text(encoding="utf-8").splitlines()[0]
        # A header would not parse as numbers; this is the layout the XGBoost container expects.
        assert all(_is_number(cell) for cell in first_line.split(","))
        table = read_split(run.split(name))
        assert table.shape[1] == width
        assert set(np.unique(table[:, 0])) == {0.0, 1.0}
        assert not np.isnan(table).any()


def test_split_sizes_are_stratified_and_cover_every_record_once(run: Run) -> None:
    churned = sum(record.churned for record in run.records)
    stayed = len(run.records) - churned
    tables = {name: read_split(run.split(name)) for name in SPLITS}
    sizes = {name: table.shape[0] for name, table in tables.items()}
    positives = {name: int(table[:, 0].sum()) for name, table in tables.items()}
    assert sum(sizes.values()) == len(run.records) == 393
    for name, fraction in (("validation", 0.15), ("test", 0.15)):
        assert positives[name] == round(churned * fraction)
        assert sizes[name] - positives[name] == round(stayed * fraction)
    assert positives["train"] == churned - positives["validation"] - positives["test"]
    assert run.features()["rows"] == sizes
    assert run.features()["positives"] == positives


def test_stratified_split_is_a_seeded_partition() -> None:
    labels = [0] * 70 + [1] * 30
    first = preprocess.stratified_split(labels, validation_fraction=0.2, test_fraction=0.1, seed=7)
    again = preprocess.stratified_split(labels, validation_fraction=0.2, test_fraction=0.1, seed=7)
    other = preprocess.stratified_split(labels, validation_fraction=0.2, test_fraction=0.1, seed=8)
    assert first == again
    assert first != other
    assert sorted(position for positions in first.values() for position in positions) == list(range(100))
    assert [sum(labels[p] for p in first[name]) for name in SPLITS] == [21, 6, 3]
    assert [len(first[name]) for name in SPLITS] == [70, 20, 10]


def test_preprocess_output_is_byte_for_byte_repeatable(run: Run, tmp_path: Path) -> None:
    assert preprocess.main(preprocess_args(run.root / "curated", tmp_path)) == 0
    for name in SPLITS:
        assert (tmp_path / name / f"{name}.csv").read_bytes() == run.split(name).read_bytes()


def test_file_layout_and_order_of_the_offline_store_do_not_change_the_splits(run: Run, tmp_path: Path) -> None:
    # Feature Store batches records into files as it likes, in no particular order: the same records spread
    # over several files, in reverse, must give the same bytes.
    features = pd.concat([pd.read_parquet(p) for p in sorted((run.root / "curated").rglob("*features*/**/*.parquet"))])
    labels = pd.concat([pd.read_parquet(p) for p in sorted((run.root / "curated").rglob("*labels*/**/*.parquet"))])
    for frame, group in ((features, GROUPS[CUSTOMER_FEATURES.suffix]), (labels, GROUPS[CHURN_LABELS.suffix])):
        store = tmp_path / "in" / ACCOUNT / "sagemaker" / REGION / "offline-store" / f"{group}-1" / "data"
        store.mkdir(parents=True)
        reversed_rows = frame.iloc[::-1].reset_index(drop=True)
        for number, start in enumerate(range(0, len(reversed_rows), 100)):
            reversed_rows.iloc[start : start + 100].to_parquet(store / f"part-{number}.parquet", index=False)
    assert preprocess.main(preprocess_args(tmp_path / "in", tmp_path / "out")) == 0
    for name in SPLITS:
        assert (tmp_path / "out" / name / f"{name}.csv").read_bytes() == run.split(name).read_bytes()


def test_features_json_names_every_feature_column_in_order(run: Run) -> None:
    features = run.features()
    assert features["label"] == "churned"
    assert features["features"] == list(MODEL_FEATURES)
    assert features["features"][:4] == ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
    assert "charges_per_tenure_month" in features["features"]
    assert features["features"][-7:] == [
        "contract_month_to_month",
        "contract_one_year",
        "contract_two_year",
        "payment_method_electronic_check",
        "payment_method_mailed_check",
        "payment_method_bank_transfer",
        "payment_method_credit_card",
    ]


def test_baseline_is_the_train_features_with_a_header_and_no_label(run: Run) -> None:
    # Model Monitor reads it with header=true: the columns must be what the endpoint receives, in order.
    baseline = pd.read_csv(run.root / "baseline" / preprocess.BASELINE_FILE)
    assert list(baseline.columns) == run.features()["features"]
    assert len(baseline.columns) == 13
    assert "churned" not in baseline.columns
    assert len(baseline) == run.features()["rows"]["train"]
    train = read_split(run.split("train"))
    np.testing.assert_allclose(baseline.to_numpy(dtype=float), train[:, 1:])


def test_baseline_dir_defaults_to_the_processing_output_path() -> None:
    assert preprocess.parse_args([]).baseline_dir == Path("/opt/ml/processing/baseline")


def test_preprocess_reports_a_missing_input_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert preprocess.main(preprocess_args(tmp_path / "nowhere", tmp_path)) == 1
    assert "does not exist" in capsys.readouterr().err


# --- training (local stand-in for the built-in algorithm) --------------------------------------------------


def test_model_archive_holds_only_the_booster_as_sagemaker_writes_it(run: Run) -> None:
    with tarfile.open(run.root / "model" / "model.tar.gz", mode="r:gz") as archive:
        assert archive.getnames() == ["xgboost-model"]


def test_local_training_needs_num_round(run: Run, tmp_path: Path) -> None:
    hyperparameters = {key: value for key, value in DEFAULT_HYPERPARAMETERS.items() if key != "num_round"}
    with pytest.raises(ValueError, match="num_round"):
        local_train.train_like_sagemaker(
            train_dir=run.root / "train",
            validation_dir=run.root / "validation",
            hyperparameters=hyperparameters,
            model_dir=tmp_path,
        )


# --- evaluate ----------------------------------------------------------------------------------------------


def test_evaluation_report_is_in_the_model_quality_format(run: Run) -> None:
    report = run.report()
    assert list(report) == ["binary_classification_metrics"]
    metrics = report["binary_classification_metrics"]
    for name in ("auc", "accuracy", "precision", "recall", "f1"):
        assert metrics[name]["standard_deviation"] == "NaN"
        assert isinstance(metrics[name]["value"], float)
        assert 0.0 <= metrics[name]["value"] <= 1.0
    matrix = metrics["confusion_matrix"]
    test_rows = read_split(run.split("test"))
    assert sum(matrix[actual][predicted] for actual in "01" for predicted in "01") == test_rows.shape[0]
    assert matrix["1"]["0"] + matrix["1"]["1"] == int(test_rows[:, 0].sum())


def test_the_sample_model_clears_the_default_auc_gate(run: Run) -> None:
    # Read the AUC exactly where the pipeline's condition step reads it.
    auc = json_path(run.report(), AUC_JSON_PATH)
    print(f"test AUC on the shipped sample: {auc:.4f} (default threshold {DEFAULT_AUC_THRESHOLD})")
    assert auc >= DEFAULT_AUC_THRESHOLD + 0.05, "the default threshold should leave the sample a clear margin"


def test_metrics_on_a_known_case() -> None:
    labels = np.array([0.0, 0.0, 1.0, 1.0])
    scores = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = evaluate.binary_classification_metrics(labels, scores, decision_threshold=0.5)
    assert metrics["auc"]["value"] == 0.75
    assert metrics["accuracy"]["value"] == 0.5
    assert metrics["precision"]["value"] == 0.5
    assert metrics["recall"]["value"] == 0.5
    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 1}, "1": {"0": 1, "1": 1}}


def test_the_model_member_may_carry_a_dot_slash_prefix(run: Run, tmp_path: Path) -> None:
    with tarfile.open(run.root / "model" / "model.tar.gz", mode="r:gz") as source:
        member = source.getmember("xgboost-model")
        raw = source.extractfile(member)
        assert raw is not None
        model_bytes = raw.read()
    _write_archive(tmp_path / "model.tar.gz", {"./xgboost-model": model_bytes})
    assert evaluate.load_booster(tmp_path).num_features() == read_split(run.split("test")).shape[1] - 1


@pytest.mark.parametrize(
    ("model", "test_csv", "expected"),
    [
        pytest.param(None, None, "model archive", id="no-model"),
        pytest.param({"model.json": b"{}"}, None, "has no xgboost-model file", id="wrong-member"),
        pytest.param(b"not a tarball", None, "not a readable gzip tar archive", id="corrupt-archive"),
        pytest.param("trained", None, "no .csv files found in test directory", id="no-test-split"),
        pytest.param("trained", "", "the test split in", id="empty-test-split"),
        pytest.param("trained", "1,0.5,0.5\n0,0.1,0.2\n", "expects 13 features but the test split has 2", id="width"),
        pytest.param("trained", "1," + ",".join(["0"] * 13) + "\n", "only one class", id="one-class"),
        pytest.param("trained", "1,a,b\n", "could not convert", id="not-numbers"),
    ],
)
def test_evaluate_rejects_unusable_input_with_one_sentence(
    run: Run,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str | bytes | dict[str, bytes] | None,
    test_csv: str | None,
    expected: str,
) -> None:
    archive = tmp_path / "model" / "model.tar.gz"
    archive.parent.mkdir()
    if model == "trained":
        archive.write_bytes((run.root / "model" / "model.tar.gz").read_bytes())
    elif isinstance(model, bytes):
        archive.write_bytes(model)
    elif isinstance(model, dict):
        _write_archive(archive, model)
    (tmp_path / "test").mkdir()
    if test_csv is not None:
        (tmp_path / "test" / "test.csv").write_text(test_csv, encoding="utf-8")
    args = ["--model-dir", str(tmp_path / "model"), "--test-dir", str(tmp_path / "test")]
    args += ["--evaluation-dir", str(tmp_path / "evaluation"), "--exit-message-file", str(tmp_path / "message")]
    assert evaluate.main(args) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("evaluate failed: ")
    assert expected in error
    assert (tmp_path / "message").read_text(encoding="utf-8").strip() == error
    assert not (tmp_path / "evaluation").exists()


# --- what runs inside the containers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "container_python", "third_party"),
    [
        # scikit-learn 1.2-1 image: Python 3.9; XGBoost 1.7-1 image: Python 3.8.
        pytest.param(preprocess, (3, 9), {"pandas"}, id="preprocess"),
        pytest.param(evaluate, (3, 8), {"numpy", "sklearn", "xgboost"}, id="evaluate"),
    ],
)
def test_step_scripts_are_self_contained_for_their_container(
    module: Any, container_python: tuple[int, int], third_party: set[str]
) -> None:
    source = Path(module.__file__).read_text(encoding="utf-8")
    # Only the script file is shipped, so only the standard library and the container's packages exist.
    tree = ast.parse(source, feature_version=container_python)
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # Relative imports (level > 0) would need the package, which is not shipped either.
            assert node.level == 0
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) <= third_party


# --- helpers ------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _write_archive(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
