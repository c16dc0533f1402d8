"""Banking77 and CLINC150, vendored unmodified (gzip) under ``ocrr/datasets/data``."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from ocrr.datasets.base import Dataset, Split
from ocrr.datasets.csvsplit import read_csv_split


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    source: str
    licence: str
    citation: str
    loader: Callable[[], Dataset]

    def licence_text(self) -> str:
        return _data_file(self.name, "LICENSE").decode("utf-8")


def _data_file(dataset: str, filename: str) -> bytes:
    raw = resources.files("ocrr.datasets").joinpath("data", dataset, filename).read_bytes()
    return gzip.decompress(raw) if filename.endswith(".gz") else raw


def _load_banking77() -> Dataset:
    splits = {}
    for part in ("train", "test"):
        text = _data_file("banking77", f"{part}.csv.gz").decode("utf-8")
        splits[part] = read_csv_split(
            io.StringIO(text), source=f"banking77/{part}.csv", label_column="category"
        )
    return Dataset("banking77", splits["train"], splits["test"])


def _load_clinc150() -> Dataset:
    raw = json.loads(_data_file("clinc150", "data_full.json.gz"))

    def split(key: str) -> Split:
        rows = raw[key]
        return Split(tuple(r[0] for r in rows), tuple(r[1] for r in rows))

    extra = {key: split(key) for key in ("val", "oos_train", "oos_val", "oos_test")}
    return Dataset("clinc150", split("train"), split("test"), extra)


BUILTIN: dict[str, DatasetInfo] = {
    "banking77": DatasetInfo(
        name="banking77",
        description="77 fine-grained banking intents; 10,003 train / 3,080 test queries.",
        source="PolyAI-LDN/task-specific-datasets, banking_data/ (commit 57ec275d)",
        licence="CC BY 4.0",
        citation=(
            "Casanueva, I., Temčinas, T., Gerz, D., Henderson, M., Vulić, I. (2020). "
            "Efficient Intent Detection with Dual Sentence Encoders. "
            "Proceedings of the 2nd Workshop on NLP for ConvAI (NLP4ConvAI), ACL 2020."
        ),
        loader=_load_banking77,
    ),
    "clinc150": DatasetInfo(
        name="clinc150",
        description=(
            "150 intents over 10 domains; 15,000 train / 3,000 val / 4,500 test in-scope "
            "queries, plus out-of-scope splits oos_train / oos_val / oos_test."
        ),
        source="clinc/oos-eval, data/data_full.json (commit 828f8093)",
        licence="CC BY 3.0",
        citation=(
            "Larson, S., Mahendran, A., Peper, J. J., Clarke, C., Lee, A., Hill, P., "
            "Kummerfeld, J. K., Leach, K., Laurenzano, M. A., Tang, L., Mars, J. (2019). "
            "An Evaluation Dataset for Intent Classification and Out-of-Scope Prediction. "
            "EMNLP-IJCNLP 2019."
        ),
        loader=_load_clinc150,
    ),
}


def builtin_info(name: str) -> DatasetInfo:
    return BUILTIN[name]
