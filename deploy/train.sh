#!/bin/sh
# The trainer image's command: fill the species gallery from the data set mounted at /data (a
# model is activated only when the site knows all its species), then train the default model
# and activate it if none is active. Both steps do nothing when their work is already done.
set -eu
python manage.py load_species --data /data
exec python manage.py setup_classifier --data /data
