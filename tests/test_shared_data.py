"""A test that needs the public test data says which data set, and where it goes."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA_SETS, shared_data


@pytest.mark.parametrize("folder", sorted(SHARED_DATA_SETS))
def test_a_missing_file_skips_naming_its_data_set(folder: str) -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        shared_data(folder, "no-such-file.bin")
    message = str(skipped.value)
    assert f"{folder}/no-such-file.bin" in message
    assert SHARED_DATA_SETS[folder] in message
    assert "../shared/data beside the clone (README: Tests that need real data)" in message
