"""Console scripts over package functions.

``nmflowgan-synthesize`` (:mod:`.synthesize`), ``nmflowgan-preview`` (:mod:`.preview`) and
``nmflowgan-adapt`` (:mod:`.adapt`). Each module has a ``main(argv=None)``.
"""
