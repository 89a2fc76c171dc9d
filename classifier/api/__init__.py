"""The REST API for apps (`/api/v1/`): thin DRF views over the classifier services and selectors."""
