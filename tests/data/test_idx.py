"""IDX reading: the real MNIST test files, and every kind of damaged file."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lrlab.data.download import md5sum
from lrlab.data.idx import read_idx, read_idx_pair
from lrlab.errors import LrlabError
from tests.data.helpers import idx_bytes, write_idx

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
MD5 = {IMAGES: "9fb629c4189551a2d022fa330f9573f3", LABELS: "ec29112dd5afa0611ce80d1b7f02629c"}


class TestRealMnist:
    def test_files_are_the_genuine_release(self, mnist_test_dir: Path) -> None:
        for name, md5 in MD5.items():
            assert md5sum(mnist_test_dir / name) == md5

    def test_shapes_dtypes_and_label_range(self, mnist_test_dir: Path) -> None:
        images, labels = read_idx_pair(mnist_test_dir / IMAGES, mnist_test_dir / LABELS)
        assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (10_000,) and labels.dtype == np.uint8
        assert set(np.unique(labels)) == set(range(10))
        assert images.min() == 0 and images.max() == 255
        assert images.flags.writeable

    def test_gzipped_and_raw_read_the_same(self, mnist_test_dir: Path, tmp_path: Path) -> None:
        raw = tmp_path / "labels-raw"
        raw.write_bytes(gzip.decompress((mnist_test_dir / LABELS).read_bytes()))
        np.testing.assert_array_equal(read_idx(raw), read_idx(mnist_test_dir / LABELS))


class TestDamagedFiles:
    @pytest.fixture
    def pair(self, tmp_path: Path) -> tuple[Path, Path]:
        images = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
        labels = np.array([0, 1, 2, 3, 4], dtype=np.uint8)
        return write_idx(tmp_path / "images.gz", images), write_idx(tmp_path / "labels.gz", labels)

    def rewrite(self, path: Path, data: bytes) -> Path:
        path.write_bytes(gzip.compress(data))
        return path

    def expect_error(self, path: Path, *words: str) -> None:
        with pytest.raises(LrlabError) as caught:
            read_idx(path)
        for word in (str(path), *words):
            assert word in str(caught.value)

    def test_truncated_data(self, pair: tuple[Path, Path]) -> None:
        data = gzip.decompress(pair[0].read_bytes())
        self.expect_error(self.rewrite(pair[0], data[:-7]), "truncated", "5x4x3")

    def test_trailing_bytes(self, pair: tuple[Path, Path]) -> None:
        data = gzip.decompress(pair[0].read_bytes())
        self.expect_error(self.rewrite(pair[0], data + b"\0"), "trailing")

    def test_truncated_gzip_stream(self, pair: tuple[Path, Path]) -> None:
        pair[0].write_bytes(pair[0].read_bytes()[:-10])
        self.expect_error(pair[0], "gzip")

    def test_corrupted_gzip_stream(self, pair: tuple[Path, Path]) -> None:
        data = bytearray(pair[0].read_bytes())
        data[12:20] = b"\xff" * 8
        pair[0].write_bytes(bytes(data))
        with pytest.raises(LrlabError, match=re.escape(str(pair[0]))):
            read_idx(pair[0])

    def test_wrong_magic(self, pair: tuple[Path, Path]) -> None:
        data = gzip.decompress(pair[0].read_bytes())
        self.expect_error(self.rewrite(pair[0], b"\x01\x02" + data[2:]), "magic")

    def test_unknown_dtype_code(self, pair: tuple[Path, Path]) -> None:
        data = gzip.decompress(pair[0].read_bytes())
        self.expect_error(self.rewrite(pair[0], data[:2] + b"\x07" + data[3:]), "dtype code 0x07")

    def test_wrong_count_in_header(self, pair: tuple[Path, Path]) -> None:
        data = bytearray(gzip.decompress(pair[0].read_bytes()))
        data[7] = 6  # the header now claims 6 images, the file holds 5
        self.expect_error(self.rewrite(pair[0], bytes(data)), "6x4x3")

    def test_header_cut_short(self, tmp_path: Path) -> None:
        self.expect_error(self.rewrite(tmp_path / "short", b"\0\0\x08\x03\0\0"), "cut short")
        self.expect_error(self.rewrite(tmp_path / "tiny", b"\0\0"), "too short")

    def test_missing_file(self, tmp_path: Path) -> None:
        self.expect_error(tmp_path / "absent.gz", "does not exist")

    def test_mismatched_pair_names_both_files(self, pair: tuple[Path, Path], tmp_path: Path) -> None:
        other = write_idx(tmp_path / "other-labels.gz", np.zeros(4, dtype=np.uint8))
        with pytest.raises(LrlabError) as caught:
            read_idx_pair(pair[0], other)
        assert str(pair[0]) in str(caught.value) and str(other) in str(caught.value)
        assert "5 images" in str(caught.value) and "4 labels" in str(caught.value)

    def test_labels_must_be_one_dimensional(self, pair: tuple[Path, Path]) -> None:
        with pytest.raises(LrlabError, match="1-D"):
            read_idx_pair(pair[0], pair[0])

    def test_real_file_truncated_copy(self, mnist_test_dir: Path, tmp_path: Path) -> None:
        copy = tmp_path / LABELS
        shutil.copy(mnist_test_dir / LABELS, copy)
        data = gzip.decompress(copy.read_bytes())
        self.expect_error(self.rewrite(copy, data[:5000]), "truncated")


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_every_dtype_round_trips_in_native_order(dtype: str, tmp_path: Path) -> None:
    array = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / "array"
    path.write_bytes(idx_bytes(array))
    result = read_idx(path)
    assert result.dtype.isnative and result.dtype.kind == array.dtype.kind
    np.testing.assert_array_equal(result, array)


def test_a_gzip_that_would_inflate_beyond_memory_is_refused_before_inflating(tmp_path: Path) -> None:
    import struct
    import time

    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb") as file:  # 10 kB on disk; its header promises 10**12 bytes
        file.write(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 1_000_000, 1000, 1000) + b"\0" * 10_000_000)
    began = time.perf_counter()
    with pytest.raises(
        LrlabError, match=r"promises 1000000x1000x1000 values .* more than this machine's memory"
    ):
        read_idx(path)
    assert time.perf_counter() - began < 1.0  # nothing was inflated
