"""What every app of the site stands on: health probes, outage answers, logging, photo storage.

core imports no other app of the site; apps plug into it (`core.health.register_check`).
"""
