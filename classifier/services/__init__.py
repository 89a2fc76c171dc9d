"""Writes of the classifier app, by domain: `identification` (name the bird in an upload, keep
it until it is saved), `sightings` (the rules of a sighting, shared by the site and the API) and
`gallery` (fill the species catalogue)."""
