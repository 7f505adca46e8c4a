"""Importers from other model registries, on the public client's admin-only
import methods. ``import_mlflow`` reads a live MLflow registry (MLflow is the
optional extra ``modelregistry[mlflow]``, imported only when an import runs)."""

from registry_client.importer.mlflow import import_mlflow
from registry_client.importer.report import ImportItem, ImportReport

__all__ = ["ImportItem", "ImportReport", "import_mlflow"]
