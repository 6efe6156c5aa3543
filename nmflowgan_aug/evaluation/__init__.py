"""Benchmarks as library code: the noise-fidelity protocol, the denoising benchmark and the throughput timings.

The scripts in ``benchmarks/`` are thin command lines over these modules:

* noise fidelity (``benchmarks/noise_fidelity.py``): :mod:`.fidelity` (validation blocks, per-block
  KLD/AKLD, seeds, summaries), :mod:`.fidelity_methods` (fitted baselines, the real-noise reference,
  trained models), :mod:`.fidelity_report` (markdown, README tables), :mod:`.plots` (figures; needs
  matplotlib);
* denoising (``benchmarks/denoise_sidd.py``): :mod:`.noise_sources` (registry of noise sources,
  nearest-ISO mapping), :mod:`.denoising` (evaluation blocks, PSNR/SSIM, one DnCNN per source, SIDD
  submission), :mod:`.denoising_report`; the DnCNN trainer itself is :mod:`nmflowgan_aug.denoisers`;
* throughput (``benchmarks/throughput.py``): :mod:`.throughput` (workloads, ``torch.utils.benchmark``
  timings), :mod:`.throughput_report`;
* shared: :mod:`.training_pairs` (pairs with known camera/ISO), :mod:`.machine` (what a result ran
  on), :mod:`.paths` (``$NMFLOWGAN_SHARED_DATA`` or ``../shared/data``), :mod:`.cli` (argparse helpers).
"""

from .denoising import compare_noise_sources, score
from .fidelity import METRICS, Block, evaluate, summarize
from .fidelity_methods import build_methods
from .machine import machine_info
from .noise_sources import NoiseSource, map_conditions, register_source
from .paths import shared_data_dir
from .training_pairs import load_known_pairs

__all__ = [
    "METRICS",
    "Block",
    "NoiseSource",
    "build_methods",
    "compare_noise_sources",
    "evaluate",
    "load_known_pairs",
    "machine_info",
    "map_conditions",
    "register_source",
    "score",
    "shared_data_dir",
    "summarize",
]
