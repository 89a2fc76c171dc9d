"""Reads of the classifier app, by domain: `identification` (photos waiting to be saved and their
suggestions), `sightings` (who sees which sighting, the log, its export) and `gallery` (the
species catalogue). Selectors return None for what does not exist or may not be seen; the front
ends turn that into their own 404."""
