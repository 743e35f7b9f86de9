"""The clouds' size limits, as data with their sources: the builders enforce them, `fpack check`
estimates against them and deploy chooses its upload path by them. Pure: no imports of fpack.
"""

from __future__ import annotations

from typing import Final

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_DIRECT_UPLOAD_MAX: Final = 52_428_800  # zipped, for a direct upload; larger goes via S3
LAMBDA_UNZIPPED_MAX: Final = 262_144_000  # a function and all its layers, unzipped
LAMBDA_LAYERS_MAX: Final = 5
LAMBDA_IMAGE_MAX: Final = 10_737_418_240  # a container image, uncompressed, all layers

# https://cloud.google.com/functions/quotas#resource_limits: "Max deployment size: 100MB
# (compressed) for sources, 500MB (uncompressed) for sources plus modules". The upload URL that a
# deploy is handed refuses more than 100 MB (EntityTooLarge, firebase/firebase-tools#4146, #7343)
# and gcloud refuses an "Uncompressed deployment ... bigger than maximum allowed size of
# 536870912B" (sahava/multisite-lighthouse-gcp#16).
GCF_ZIPPED_MAX: Final = 104_857_600
GCF_UNZIPPED_MAX: Final = 536_870_912

# Packages that `[targets.aws] sdk = "runtime"` can leave to the Lambda runtime (deps/sdk.py).
_RUNTIME_SDK: Final = ("boto3", "botocore", "s3transfer", "jmespath")


def lambda_remedies(*, slim: bool, sdk: str, largest: tuple[str, ...]) -> str:
    """What fits an artifact over Lambda's unzipped limit, given its settings and its largest
    packages (names, biggest first). Not a layer split: the limit counts the function and all
    its layers together, so moving dependencies into a layer frees nothing (it helps the 50 MB
    direct-upload limit, a warning, not this error). `sdk = "runtime"` only when the SDK is
    among the largest and still bundled: otherwise it frees little or nothing."""
    steps = ["drop dependencies the function does not need"]
    if not slim:
        steps.append("set slim = true in [targets.aws] (drops the dependencies' test "
                     "directories, stubs and debug sections)")
    if sdk == "bundle" and any(name in _RUNTIME_SDK[:2] for name in largest):
        steps.append('set sdk = "runtime" in [targets.aws] (boto3, botocore, s3transfer and '
                     "jmespath come from the Lambda runtime instead)")
    steps.append('or use the docker target with flavor = "lambda" (container images may be up '
                 "to 10 GiB)")
    return "; ".join(steps)
