"""Benchmarks of nmflowgan_aug (run as scripts: ``python benchmarks/noise_fidelity.py --help``)."""
