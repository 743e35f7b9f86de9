"""Dependencies for a target platform: read the spec, resolve with uv, install, audit, cache.

See DESIGN.md in this folder. Only `uv.py` runs uv; only `cache.py` decides where things live.
"""
