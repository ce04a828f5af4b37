"""The bench's memory measurement: each step's own peak, even one no sample would catch."""

import numpy as np
import pytest

from tasks import progress
from tasks.bench import RssSampler


def test_each_step_gets_its_own_peak_even_when_freed_between_samples():
    sampler = RssSampler({"big", "small"})
    if not sampler.exact:
        pytest.skip("this system cannot reset a process's peak memory")
    with sampler.running():
        progress.advance("big")
        # 960 MB, freed well inside one 0.25 s sampling interval; large beside what the rest
        # of the suite's process (the Prefect harness's threads) allocates meanwhile
        block = np.ones(120_000_000)
        del block
        progress.advance("small")
        np.ones(1_000).sum()
    assert sampler.peaks["big"] - sampler.peaks["small"] > 600 * 2**20, sampler.peaks
