#!/usr/bin/env python
"""Train an NM-FlowGAN noise model: ``nmflowgan-train`` as a script in the checkout.

See ``python train_noise_model.py --help``; the command line lives in ``nmflowgan_aug.training.cli``.
"""

import sys

from nmflowgan_aug.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
