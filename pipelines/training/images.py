"""ECR image URIs of the SageMaker prebuilt containers the training pipeline runs, resolved offline.

The SageMaker Python SDK resolves these with ``sagemaker.image_uris.retrieve``; synth must stay offline
and deterministic, so the region -> registry account table is copied here instead. Source:
aws/sagemaker-python-sdk, ``src/sagemaker/image_uri_config/sklearn.json`` (scope "training", version
"1.2-1", processor "cpu", py3) and ``xgboost.json`` (scopes "training" and "inference", version "1.7-1").
Both files list the same account for every region below: the two images live in the same per-region
SageMaker framework registry. Adding a region means copying its account from those files.

The Model Monitor analyzer (``DefaultModelMonitor``, used for the data-quality baseline and the monitoring
schedule) lives in a different per-region registry: ``src/sagemaker/image_uri_config/model-monitor.json``
(scope "monitoring", version "1", repository ``sagemaker-model-monitor-analyzer``, untagged as the SDK
returns it).

SageMaker Clarify (bias and explainability jobs, and the model-bias / explainability monitoring schedules)
has a third per-region registry: ``src/sagemaker/image_uri_config/clarify.json`` (scope "processing",
version "1.0", repository ``sagemaker-clarify-processing``, tag "1.0").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "CLARIFY_REPOSITORY",
    "MODEL_MONITOR_REPOSITORY",
    "SKLEARN_FRAMEWORK_VERSION",
    "SUPPORTED_REGIONS",
    "XGBOOST_FRAMEWORK_VERSION",
    "clarify_image_uri",
    "model_monitor_image_uri",
    "sklearn_image_uri",
    "xgboost_image_uri",
]

# The preprocess script is written for this container (Python 3.9, scikit-learn 1.2, pandas, pyarrow).
SKLEARN_FRAMEWORK_VERSION = "1.2-1"
# Training (algorithm mode), the evaluate script and the registered model all use this one image, so the
# model is scored and served by the XGBoost version that trained it.
XGBOOST_FRAMEWORK_VERSION = "1.7-1"

_FRAMEWORK_REGISTRY_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "ap-northeast-1": "354813040037",
        "ap-northeast-2": "366743142698",
        "ap-south-1": "720646828776",
        "ap-southeast-1": "121021644041",
        "ap-southeast-2": "783357654285",
        "ca-central-1": "341280168497",
        "eu-central-1": "492215442770",
        "eu-north-1": "662702820516",
        "eu-west-1": "141502667606",
        "eu-west-2": "764974769150",
        "eu-west-3": "659782779980",
        "sa-east-1": "737474898029",
        "us-east-1": "683313688378",
        "us-east-2": "257758044811",
        "us-west-1": "746614075791",
        "us-west-2": "246618743249",
    }
)

MODEL_MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"

_MODEL_MONITOR_REGISTRY_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "ap-northeast-1": "574779866223",
        "ap-northeast-2": "709848358524",
        "ap-south-1": "126357580389",
        "ap-southeast-1": "245545462676",
        "ap-southeast-2": "563025443158",
        "ca-central-1": "536280801234",
        "eu-central-1": "048819808253",
        "eu-north-1": "895015795356",
        "eu-west-1": "468650794304",
        "eu-west-2": "749857270468",
        "eu-west-3": "680080141114",
        "sa-east-1": "539772159869",
        "us-east-1": "156813124566",
        "us-east-2": "777275614652",
        "us-west-1": "890145073186",
        "us-west-2": "159807026194",
    }
)

CLARIFY_REPOSITORY = "sagemaker-clarify-processing"
CLARIFY_VERSION = "1.0"

_CLARIFY_REGISTRY_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "ap-northeast-1": "377024640650",
        "ap-northeast-2": "263625296855",
        "ap-south-1": "452307495513",
        "ap-southeast-1": "834264404009",
        "ap-southeast-2": "007051062584",
        "ca-central-1": "675030665977",
        "eu-central-1": "017069133835",
        "eu-north-1": "763603941244",
        "eu-west-1": "131013547314",
        "eu-west-2": "440796970383",
        "eu-west-3": "341593696636",
        "sa-east-1": "520018980103",
        "us-east-1": "205585389593",
        "us-east-2": "211330385671",
        "us-west-1": "740489534195",
        "us-west-2": "306415355426",
    }
)

SUPPORTED_REGIONS: tuple[str, ...] = tuple(sorted(_FRAMEWORK_REGISTRY_ACCOUNTS))


# `url_suffix` is the partition's DNS suffix (a stack's ``url_suffix``): amazonaws.com in the commercial Regions.
def sklearn_image_uri(region: str, *, url_suffix: str = "amazonaws.com") -> str:
    """The scikit-learn 1.2-1 CPU image (the SDK's ``SKLearnProcessor``) for ``region``."""
    return f"{_registry(region, url_suffix=url_suffix)}/sagemaker-scikit-learn:{SKLEARN_FRAMEWORK_VERSION}-cpu-py3"


def xgboost_image_uri(region: str, *, url_suffix: str = "amazonaws.com") -> str:
    """The XGBoost 1.7-1 image (built-in algorithm, framework mode and inference) for ``region``."""
    return f"{_registry(region, url_suffix=url_suffix)}/sagemaker-xgboost:{XGBOOST_FRAMEWORK_VERSION}"


def model_monitor_image_uri(region: str, *, url_suffix: str = "amazonaws.com") -> str:
    """The Model Monitor analyzer image (baselining and data-quality monitoring jobs) for ``region``."""
    return f"{_registry(region, _MODEL_MONITOR_REGISTRY_ACCOUNTS, url_suffix=url_suffix)}/{MODEL_MONITOR_REPOSITORY}"


def clarify_image_uri(region: str, *, url_suffix: str = "amazonaws.com") -> str:
    """The SageMaker Clarify processing image (bias and SHAP jobs, their monitoring schedules) for ``region``."""
    registry = _registry(region, _CLARIFY_REGISTRY_ACCOUNTS, url_suffix=url_suffix)
    return f"{registry}/{CLARIFY_REPOSITORY}:{CLARIFY_VERSION}"


def _registry(
    region: str, accounts: Mapping[str, str] = _FRAMEWORK_REGISTRY_ACCOUNTS, *, url_suffix: str = "amazonaws.com"
) -> str:
    account = accounts.get(region)
    if account is None:
        # Also what an unresolved token (e.g. Stack.region of an environment-agnostic stack) ends up as:
        # the image URI must be decided at synth time, so the stack needs a concrete region.
        raise ValueError(
            f"no SageMaker image registry is known for region {region!r}; supported regions: "
            f"{', '.join(SUPPORTED_REGIONS)} (add the region to pipelines/training/images.py from the "
            "SageMaker Python SDK's image_uri_config)"
        )
    return f"{account}.dkr.ecr.{region}.{url_suffix}"
