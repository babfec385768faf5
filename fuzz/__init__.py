"""Coverage-guided fuzz targets (atheris); ``make fuzz`` runs them, ``fuzz/run.py`` says how."""
