"""Benchmarks as library code: the noise-fidelity protocol, the denoising benchmark and the throughput timings.

The scripts in ``benchmarks/`` are thin command lines over these modules:

* noise fidelity (``benchmarks/noise_fidelity.py``): :mod:`.fidelity` (validation blocks, per-block
  scores on 8-bit and float output, noise correlation and level statistics, seeds, summaries),
  :mod:`.fidelity_methods` (fitted baselines, the real-noise reference, trained models), :mod:`.loo`
  (leave-one-scene-out folds, per-fold training commands and models; ``benchmarks/loo_train.py``),
  :mod:`.targets` (the shipped model's targets), :mod:`.fidelity_report` (markdown, README tables),
  :mod:`.plots` (figures; needs matplotlib);
* denoising (``benchmarks/denoise_sidd.py``): :mod:`.noise_sources` (registry of noise sources,
  nearest-ISO mapping), :mod:`.clean_pool` (the clean images of the synthetic sources and their drawn
  conditions), :mod:`.denoising` (evaluation blocks, PSNR/SSIM, one DnCNN per source and seed, SIDD
  submission), :mod:`.denoising_report`; the DnCNN trainer itself is :mod:`nmflowgan_aug.denoisers`;
* throughput (``benchmarks/throughput.py``): :mod:`.throughput` (workloads, ``torch.utils.benchmark``
  timings), :mod:`.throughput_report`;
* shared: :mod:`.training_pairs` (pairs with known camera/ISO), :mod:`.overlap` (train/evaluation overlap),
  :mod:`.machine` (what a result ran on), :mod:`.paths` (``$NMFLOWGAN_SHARED_DATA`` or ``../shared/data``,
  refusing existing outputs), :mod:`.cli` (argparse helpers).
"""

from .denoising import compare_noise_sources, score
from .fidelity import HEADLINE, METRICS, NOISE_STATS, Block, evaluate, summarize
from .fidelity_methods import build_methods
from .loo import Fold, evaluate_loo, scene_folds, train_overrides
from .machine import machine_info
from .noise_sources import NoiseSource, map_conditions, register_source
from .overlap import TrainEvalOverlapError, check_overlap, find_overlap
from .paths import shared_data_dir
from .targets import check_denoiser_targets, check_targets
from .training_pairs import load_known_pairs

__all__ = [
    "HEADLINE",
    "METRICS",
    "NOISE_STATS",
    "Block",
    "Fold",
    "NoiseSource",
    "TrainEvalOverlapError",
    "build_methods",
    "check_denoiser_targets",
    "check_overlap",
    "check_targets",
    "compare_noise_sources",
    "evaluate",
    "evaluate_loo",
    "find_overlap",
    "load_known_pairs",
    "machine_info",
    "map_conditions",
    "register_source",
    "scene_folds",
    "score",
    "shared_data_dir",
    "summarize",
    "train_overrides",
]
