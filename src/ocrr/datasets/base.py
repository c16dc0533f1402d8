"""The dataset value types shared by every loader."""

from __future__ import annotations

from dataclasses import dataclass, field


class DatasetError(ValueError):
    """A dataset could not be read; the message names the file and, where known, the row."""


@dataclass(frozen=True)
class Split:
    """Texts and their labels, aligned by position, in file order."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Dataset:
    """A named dataset with at least ``train`` and ``test`` splits.

    Extra splits (CLINC150's ``val``, ``oos_train``, ``oos_val``, ``oos_test``) sit in
    ``extra`` so that code evaluating the in-scope task never sees them by accident.
    """

    name: str
    train: Split
    test: Split
    extra: dict[str, Split] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        """The sorted distinct training labels (the protocol's label order)."""
        return sorted(set(self.train.labels))

    def split(self, name: str) -> Split:
        if name == "train":
            return self.train
        if name == "test":
            return self.test
        try:
            return self.extra[name]
        except KeyError:
            valid = ["train", "test", *sorted(self.extra)]
            raise DatasetError(
                f"dataset {self.name!r} has no split {name!r}; it has: {', '.join(valid)}"
            ) from None
