"""torchrun's environment is read in one place (the training, the CLI's split of the inputs and
the progress bar all use it)."""
import pytest

from styletransfer.errors import StyleTransferError
from styletransfer.training.distributed import torchrun_environment


def test_plain_runs_are_rank_0_of_1_and_torchrun_variables_are_read():
    assert torchrun_environment({}) == (0, 1, 0)
    assert torchrun_environment({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}) == (5, 8, 1)


def test_garbage_in_the_variables_is_one_clear_error():
    with pytest.raises(StyleTransferError, match="RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers"):
        torchrun_environment({"WORLD_SIZE": "two"})
