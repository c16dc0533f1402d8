"""Datasets: the vendored built-ins, user folders, and errors that name the file and row."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrr.datasets import (
    BUILTIN,
    Dataset,
    DatasetError,
    Split,
    available_datasets,
    load_dataset,
    read_folder,
)


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


GOOD_TRAIN = "text,label\nwhere is my card,card\ncard not here,card\nrate for euro,rate\n"
GOOD_TEST = "text,label\nmy card?,card\neuro rate,rate\n"


def folder_with(tmp_path: Path, train: str | bytes = GOOD_TRAIN, test: str | bytes = GOOD_TEST):
    folder = tmp_path / "mydata"
    write(folder, "train.csv", train)
    write(folder, "test.csv", test)
    return folder


# -- built-ins --------------------------------------------------------------------------------


def test_builtins_are_listed():
    assert available_datasets() == ["banking77", "clinc150"]
    for name, info in BUILTIN.items():
        assert info.name == name and info.licence and info.citation and info.source
        assert "Creative Commons" in info.licence_text() or "CC" in info.licence_text()


def test_banking77_loads_offline():
    data = load_dataset("banking77")
    assert isinstance(data, Dataset) and data.name == "banking77"
    assert (len(data.train), len(data.test)) == (10_003, 3_080)
    assert len(data.classes) == 77 and data.classes == sorted(data.classes)
    assert set(data.test.labels) <= set(data.classes)
    assert data.train.texts[0] == "I am still waiting on my card?"
    assert data.train.labels[0] == "card_arrival"
    assert all(t.strip() for t in data.train.texts) and all(data.train.labels)
    assert data.extra == {}


def test_clinc150_loads_with_its_out_of_scope_splits_apart():
    data = load_dataset("clinc150")
    assert (len(data.train), len(data.test)) == (15_000, 4_500)
    assert len(data.classes) == 150
    assert "oos" not in data.classes and "oos" not in data.test.labels
    assert len(data.split("val")) == 3_000
    for name, size in (("oos_train", 100), ("oos_val", 100), ("oos_test", 1_000)):
        split = data.split(name)
        assert isinstance(split, Split) and len(split) == size
        assert set(split.labels) == {"oos"}
    assert data.split("train") is data.train and data.split("test") is data.test
    with pytest.raises(DatasetError, match="oos_test"):
        data.split("nope")


def test_unknown_name_lists_the_builtins(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("banking78")
    assert "banking77" in str(err.value) and "clinc150" in str(err.value)
    with pytest.raises(DatasetError):
        load_dataset(tmp_path / "does-not-exist")


# -- user folders -----------------------------------------------------------------------------


def test_user_folder_in_file_order(tmp_path):
    data = load_dataset(folder_with(tmp_path))
    assert data.name == "mydata"
    assert data.train.texts == ("where is my card", "card not here", "rate for euro")
    assert data.train.labels == ("card", "card", "rate")
    assert data.test.labels == ("card", "rate")
    assert data.classes == ["card", "rate"]
    assert load_dataset(str(folder_with(tmp_path))).train == data.train


def test_user_folder_csv_details(tmp_path):
    train = (
        "\ufeffid, label ,text,extra\n"  # a BOM, spaces around names, extra columns
        '1,card,"where, oh where, is my card",x\n'
        "\n"  # blank lines are skipped
        '2,rate,"she said ""hi""",y\n'
        "3,card,  padded text  ,z\n"
        '4,rate,"two\nlines",w\n'
    )
    data = read_folder(folder_with(tmp_path, train=train))
    assert data.train.texts == (
        "where, oh where, is my card",
        'she said "hi"',
        "padded text",
        "two\nlines",
    )
    assert data.train.labels == ("card", "rate", "card", "rate")


def assert_names(err: pytest.ExceptionInfo, path: Path, row: int | None = None) -> None:
    message = str(err.value)
    assert str(path) in message, message
    if row is not None:
        assert f"row {row}" in message, message


def test_missing_column_names_the_file(tmp_path):
    folder = folder_with(tmp_path, train="text,category\nhello,a\nbye,b\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "train.csv")
    assert "'label'" in str(err.value)


def test_empty_file_names_the_file(tmp_path):
    folder = folder_with(tmp_path, test="")
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "test.csv")
    assert "empty" in str(err.value)


def test_header_only_names_the_file(tmp_path):
    folder = folder_with(tmp_path, train="text,label\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "train.csv")


def test_missing_file_names_it(tmp_path):
    folder = tmp_path / "half"
    write(folder, "train.csv", GOOD_TRAIN)
    with pytest.raises(DatasetError) as err:
        read_folder(folder)
    assert_names(err, folder / "test.csv")


def test_test_class_without_training_rows_names_file_and_row(tmp_path):
    test = "text,label\nmy card?,card\neuro rate,rate\nclose it,close_account\n"
    folder = folder_with(tmp_path, test=test)
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "test.csv", row=4)
    assert "close_account" in str(err.value)


def test_non_utf8_names_file_and_row(tmp_path):
    train = b"text,label\nwhere is my card,card\ncaf\xe9 cr\xe8me,rate\n"
    folder = folder_with(tmp_path, train=train)
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "train.csv", row=3)
    assert "UTF-8" in str(err.value)


def test_latin1_on_the_first_line(tmp_path):
    folder = folder_with(tmp_path, test=b"t\xe9xt,label\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "test.csv", row=1)


@pytest.mark.parametrize(
    "train, row",
    [
        pytest.param(GOOD_TRAIN + "too,many,fields\n", 5, id="extra-field"),
        pytest.param(GOOD_TRAIN + "lonely\n", 5, id="missing-field"),
        pytest.param(GOOD_TRAIN + ",card\n", 5, id="empty-text"),
        pytest.param("text,label\nhello,\n" + GOOD_TRAIN[11:], 2, id="empty-label"),
        pytest.param("text,label\nhi,a\n   ,b\n", 3, id="blank-text"),
    ],
)
def test_malformed_rows_name_file_and_row(tmp_path, train: str, row: int):
    folder = folder_with(tmp_path, train=train)
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "train.csv", row=row)


def test_rows_after_a_multiline_field_are_numbered_by_record(tmp_path):
    train = 'text,label\n"one\ntwo",a\nthree,b\nfour\n'
    folder = folder_with(tmp_path, train=train)
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "train.csv", row=4)  # as a spreadsheet shows it


def test_a_single_class_is_refused(tmp_path):
    folder = folder_with(tmp_path, train="text,label\na b,x\nc d,x\n", test="text,label\na,x\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    assert_names(err, folder / "train.csv")


def test_split_lengths_must_agree():
    with pytest.raises(ValueError):
        Split(("a", "b"), ("x",))


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)
