"""cibscope: find coordinated inauthentic behaviour (CIB) in social-media data and share it as STIX 2.1.

Pipeline (one way): ``ingest`` -> ``store`` -> ``detect`` -> ``explain`` -> ``report`` / ``share``.
"""
__version__ = "0.1.0"
