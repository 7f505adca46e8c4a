"""Artifact stores: where registry-held model files live (S3 or a local folder)."""
