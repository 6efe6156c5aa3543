#!/usr/bin/env python
"""Train an NM-FlowGAN noise model. See ``python train_noise_model.py --help``; the loop lives in
``nmflowgan_aug.training``."""

import sys

from nmflowgan_aug.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
