"""Console scripts over package functions: ``nmflowgan-synthesize`` (:mod:`.synthesize`) and
``nmflowgan-preview`` (:mod:`.preview`). Each module has a ``main(argv=None)``."""
